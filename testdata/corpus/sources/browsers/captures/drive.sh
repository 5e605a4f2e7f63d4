#!/bin/bash
# drive.sh BROWSER  (chromium|firefox): headful sessions under Xvfb :99 against the botcorpus capture server
set -u
B=$1
cd /tmp/cap
export DISPLAY=:99
SPKI=$(openssl x509 -in leaf.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
LOCALES=("en-US|en-US,en" "de-DE|de-DE,de,en-US,en" "fr-FR|fr-FR,fr,en-US,en" "es-ES|es-ES,es" "ja|ja,en-US,en" "pt-BR|pt-BR,pt,en" "en-GB|en-GB,en" "pl|pl,en-US,en")
SIZES=("1280x800" "1920x1080" "1366x768" "1536x864" "1440x900" "1600x900" "1280x1024" "1680x1050")
TERMS=("wool+socks" "rain+jacket" "coffee+grinder" "kinderschuhe" "chaussures" "zapatillas" "%E9%9D%B4" "t%C3%AAnis")
MODES=(h2 h1 http)
if [ $B = chromium ]; then VER=$(chromium --version 2>/dev/null | awk '{print $2}'); else VER=$(firefox-esr --version | awk '{print $3}'); fi
OUT=raw/$B-$VER.jsonl
: > $OUT
i=0
for li in "${!LOCALES[@]}"; do
 for mode in "${MODES[@]}"; do
  IFS='|' read -r PRIM LIST <<< "${LOCALES[$li]}"
  SIZE=${SIZES[$(( (li + i) % ${#SIZES[@]} ))]}; W=${SIZE%x*}; H=${SIZE#*x}
  TERM_=${TERMS[$li]}
  if [ $mode = http ]; then SCHEME=http; LISTEN=""; else SCHEME=https; LISTEN=127.0.0.1:443; fi
  NOTE="session=$B-$i browser=$B/$VER lang=$PRIM accept-lang=$LIST window=$SIZE mode=$mode date=$(date -u +%F)"
  ./botcorpus capture -listen "$LISTEN" -listen-plain 127.0.0.1:80 -tls-cert chain.pem -tls-key leaf.key -out $OUT -append \
     -label human -class x -source capture -note "$NOTE" -timeout 90s > cap-$B-$i.out 2>&1 &
  CAPPID=$!
  sleep 1
  PROF=/tmp/cap/prof-$B-$i; rm -rf $PROF; mkdir -p $PROF
  if [ $B = chromium ]; then
    EXTRA=""; [ $mode = h1 ] && EXTRA="--disable-http2"
    chromium --no-sandbox --user-data-dir=$PROF --no-first-run --no-default-browser-check --disable-component-update \
      --host-resolver-rules="MAP shop.example 127.0.0.1" --ignore-certificate-errors-spki-list=$SPKI \
      --lang=$PRIM --accept-lang=$LIST --window-position=0,0 --window-size=$W,$H $EXTRA $SCHEME://shop.example/ > br-$B-$i.log 2>&1 &
    BPID=$!
  else
    certutil -N -d sql:$PROF --empty-password
    certutil -A -d sql:$PROF -n botcorpus-ca -t "C,," -i ca.pem
    H2=true; [ $mode = h1 ] && H2=false
    FFLIST=$(echo $LIST | sed 's/,/, /g')
    cat > $PROF/user.js <<UJS
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("startup.homepage_welcome_url", "");
user_pref("startup.homepage_welcome_url.additional", "");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.policy.firstRunURL", "");
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("browser.sessionstore.resume_from_crash", false);
user_pref("intl.accept_languages", "$FFLIST");
user_pref("network.dns.localDomains", "shop.example");
user_pref("network.http.http2.enabled", $H2);
UJS
    firefox-esr --profile $PROF --no-remote --new-instance $SCHEME://shop.example/ > br-$B-$i.log 2>&1 &
    BPID=$!
  fi
  sleep 7
  WID=$(xdotool search --onlyvisible --pid $BPID 2>/dev/null | tail -1)
  if [ -n "$WID" ]; then xdotool windowsize $WID $W $H windowmove $WID 0 0 windowactivate $WID 2>/dev/null; fi
  sleep 1
  # focus the page body, then Tab to the link and follow it (a user navigation)
  xdotool mousemove $((W-60)) $((H-60)) click 1; sleep 0.5
  xdotool key Tab; sleep 0.3; xdotool key Return; sleep 3
  # reload
  xdotool key F5; sleep 3
  # type a URL into the address bar
  if [ $mode = http ]; then U="http://shop.example/search?q=$TERM_"; else U="https://shop.example/search?q=$TERM_"; fi
  xdotool key ctrl+l; sleep 0.5; xdotool type --delay 30 "$U"; xdotool key Return; sleep 3
  xdotool key ctrl+l; sleep 0.5; xdotool type --delay 30 "${U%%/search*}/login"; xdotool key Return; sleep 3
  kill $BPID 2>/dev/null; sleep 2; kill -9 $BPID 2>/dev/null
  kill -TERM $CAPPID 2>/dev/null; wait $CAPPID
  echo "$i $mode $PRIM $SIZE: $(tail -1 cap-$B-$i.out)"
  rm -rf $PROF
  i=$((i+1))
 done
done
