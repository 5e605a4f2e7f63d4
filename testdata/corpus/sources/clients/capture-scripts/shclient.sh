#!/bin/bash
# curl / wget / httpie request sequence: shclient.sh TOOL [extra args...]
tool=$1; shift
copied=()
if [ -n "${BROWSER_SET:-}" ]; then
  # Copied mode: a browser's complete header set (copied/*.json), one -H per
  # header in the browser's order, to four pages over HTTPS and one over http.
  while IFS= read -r h; do copied+=(-H "$h"); done < <(python3 -c 'import json,sys; [print(k + ": " + v) for k, v in json.load(open(sys.argv[1]))["headers"]]' "$BROWSER_SET")
  tool=$tool-copied
fi
case $tool in
curl-copied)
  for u in "$HTTPS/" "$HTTPS/products?page=2" "$HTTPS/search?q=green+tea" "$HTTPS/products/4711" "$HTTP/"; do
    curl -sS -o /dev/null --cacert "$CA" "${copied[@]}" "$@" "$u"
  done;;
curl)
  c() { curl -sS -o /dev/null --cacert "$CA" "$@"; }
  c "$@" "$HTTPS/"; c "$@" "$HTTPS/products?page=2"
  c "$@" -H 'Accept: application/json' -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.tok' "$HTTPS/api/items"
  c "$@" -H 'Content-Type: application/json' -d '{"event":"view"}' "$HTTPS/api/events"
  c "$@" -b 'session=8f14e45fceea167a' "$HTTPS/account"; c "$@" -I "$HTTPS/"
  c "$@" "$HTTP/"; c "$@" -d 'user=alice&pass=secret' "$HTTP/login";;
wget)
  w() { wget -q -O /dev/null --ca-certificate="$CA" "$@"; }
  w "$@" "$HTTPS/"; w "$@" "$HTTPS/products?page=2"
  w "$@" --header='Accept: application/json' --header='Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.tok' "$HTTPS/api/items"
  w "$@" --header='Content-Type: application/json' --post-data='{"event":"view"}' "$HTTPS/api/events"
  w "$@" --header='Cookie: session=8f14e45fceea167a' "$HTTPS/account"; w "$@" --method=HEAD "$HTTPS/"
  w "$@" "$HTTP/"; w "$@" --post-data='user=alice&pass=secret' "$HTTP/login";;
httpie)
  x() { http --ignore-stdin -q --verify="$CA" "$@" >/dev/null; }
  x "$@" GET "$HTTPS/"; x "$@" GET "$HTTPS/products?page=2"
  x "$@" GET "$HTTPS/api/items" 'Accept:application/json' 'Authorization:Bearer eyJhbGciOiJIUzI1NiJ9.e30.tok'
  x "$@" POST "$HTTPS/api/events" event=view; x "$@" GET "$HTTPS/account" 'Cookie:session=8f14e45fceea167a'
  x "$@" HEAD "$HTTPS/"; x "$@" GET "$HTTP/"; x "$@" --form POST "$HTTP/login" user=alice pass=secret;;
esac
