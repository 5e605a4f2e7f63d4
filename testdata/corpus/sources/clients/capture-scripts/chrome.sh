#!/bin/bash
# chrome.sh MODE: headless Chromium loads two pages of the capture server
mode=$1
prof=$(mktemp -d)
for u in "$HTTPS/" "$HTTPS/products?page=2" "$HTTP/"; do
  timeout 60 chromium --headless=$mode --no-sandbox --disable-gpu --ignore-certificate-errors --user-data-dir=$prof --virtual-time-budget=3000 --dump-dom "$u" > /dev/null
done
rm -rf $prof
