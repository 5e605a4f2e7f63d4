#!/bin/bash
# copied.sh: the library-copied captures, each client given each copied browser
# header set (copied/*.json) whole, in the browser's order; run from a folder
# with cap.sh, the client scripts, copied/, the module (for cmd/botcorpus), a
# Python venv with requests, httpx[http2] and aiohttp, node_modules with axios,
# and goclient/goclient built from goclient.go.txt.
set -u
export PATH=${VENV:-/tmp/capvenv}/bin:$PATH NODE_EXTRA_CA_CERTS=$PWD/cert.pem  # Node trusts the capture CA that cap.sh writes there
declare -A BDESC=([chromium]="a Chromium 156 navigation's" [firefox]="a Firefox 153 ESR navigation's" [safari]="a Safari 26.0 macOS navigation's (curl-impersonate signature)")
declare -A BFILE=([chromium]=chromium-156.json [firefox]=firefox-153.json [safari]=safari-26.json)
for b in chromium firefox safari; do
  export BROWSER_SET=$PWD/copied/${BFILE[$b]}
  set_note="${BDESC[$b]} complete header set (copied/${BFILE[$b]})"
  ./cap.sh capture-python-requests-2.34.2-copied-$b bot library-copied python-requests "2.34.2 (urllib3 2.8.0, no brotli, CPython 3.11.7)" "$set_note, passed as headers= (a dict in the browser's order) to Session.request" -- python pyclient.py requests
  ./cap.sh capture-httpx-0.28.1-copied-$b bot library-copied httpx "0.28.1 (httpcore 1.0.9, no brotli, CPython 3.11.7)" "$set_note, passed as headers= (a dict in the browser's order) to Client.request" -- python pyclient.py httpx
  HTTP2=1 ./cap.sh capture-httpx-0.28.1-http2-copied-$b bot library-copied httpx "0.28.1 (httpcore 1.0.9, h2 4.4.1, CPython 3.11.7), Client(http2=True)" "$set_note, passed as headers= (a dict in the browser's order) to Client(http2=True).request" -- python pyclient.py httpx
  ./cap.sh capture-aiohttp-3.14.5-copied-$b bot library-copied aiohttp "3.14.5 (no brotli, CPython 3.11.7)" "$set_note, passed as headers= (a dict in the browser's order) to ClientSession.request" -- python pyclient.py aiohttp
  ./cap.sh capture-go-1.26.8-copied-$b bot library-copied go-net-http "Go 1.26.8 net/http" "$set_note, set with Header.Set in the browser's order; transport with ForceAttemptHTTP2 as http.DefaultTransport" -- ./goclient/goclient
  ./cap.sh capture-node-fetch-undici-node20-copied-$b bot library-copied fetch "Node v20.20.2 fetch (undici 6.24.1)" "$set_note, passed as the headers object (in the browser's order) to fetch" -- node nodeclient.mjs fetch
  ./cap.sh capture-axios-1.21.1-copied-$b bot library-copied axios "1.21.1 (Node v20.20.2)" "$set_note, passed as the headers object (in the browser's order) to axios" -- node nodeclient.mjs axios
  ./cap.sh capture-curl-7.88.1-copied-$b bot library-copied curl "7.88.1" "$set_note, one -H per header in the browser's order" -- ./shclient.sh curl
done
