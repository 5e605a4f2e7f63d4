#!/bin/bash
# cap.sh ID LABEL CLASS TOOL VERSION NOTE -- command...: one capture run.
set -u
id=$1 label=$2 class=$3 tool=$4 version=$5 note=$6; shift 7
mkdir -p ./captures
out=./captures/$id.jsonl
# A built binary, not go run: SIGTERM to go run would leave the server running.
go build -o ./botcorpus ./cmd/botcorpus || exit 1
./botcorpus capture -listen 127.0.0.1:18443 -listen-plain 127.0.0.1:18080 -out $out -label $label -class $class -source $id -note "$note" -write-cert ./cert.pem -timeout 180s > ./cap.info 2>./cap.err &
pid=$!
for i in $(seq 50); do grep -q spki ./cap.info 2>/dev/null && break; sleep 0.1; done
export HTTPS=https://localhost:18443 HTTP=http://127.0.0.1:18080 CA=./cert.pem SPKI=$(awk '/spki/{print $2}' ./cap.info)
( "$@" ) > ./logs/$id.log 2>&1; rc=$?
sleep 0.5
kill -TERM $pid; wait $pid
n=$(wc -l < $out)
echo "$id rc=$rc records=$n"
python3 -c "
import json, os, sys
m = {'id': sys.argv[1], 'label': sys.argv[2], 'class': sys.argv[3], 'tool': sys.argv[4], 'version': sys.argv[5],
     'note': sys.argv[6], 'date': sys.argv[7], 'command': sys.argv[8], 'origins': [os.environ['HTTPS'], os.environ['HTTP']]}
if os.environ.get('BROWSER_SET'):  # copied mode: the browser header set the client was given
    m['copied'] = 'copied/' + os.path.basename(os.environ['BROWSER_SET'])
# The client scripts' settings, as they were set, before the command.
env = [k + '=' + (m['copied'] if k == 'BROWSER_SET' else os.environ[k]) for k in ('UA_MODE', 'BROWSER_HEADERS', 'BROWSER_SET', 'HTTP2') if os.environ.get(k)]
m['command'] = ' '.join(env + [m['command']])
print(json.dumps(m))" "$id" "$label" "$class" "$tool" "$version" "$note" "$(date -u +%F)" "$*" >> ./manifest.jsonl
