#!/bin/sh
# Starts nats-server (JetStream), three troupe nodes of one cluster and HAProxy, all on loopback.
# Try:   curl -H 'x-user: alice' http://127.0.0.1:8080/      (same user, same node, same actor)
#        edit config.json, then: kill -HUP <pid of any node>   (every node runs the new version)
# Stop with Ctrl-C.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
troupe="node $here/../../dist/cli/troupe.js"
state=$(mktemp -d)
pids=""
cleanup() {
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT INT TERM

"${NATS_SERVER:-nats-server}" -js -sd "$state" -a 127.0.0.1 -p 4222 &
pids="$pids $!"
sleep 1

for n in 1 2 3; do
  $troupe serve "$here/app.mjs" --port "300$n" --actors 2 --quiet \
    --config "$here/config.json" --affinity header:x-user \
    --cluster nats://127.0.0.1:4222 --cluster-name example --node-id "n$n" &
  pids="$pids $!"
  echo "node n$n: pid $!"
done

"${HAPROXY:-haproxy}" -f "$here/haproxy.cfg" -db &
pids="$pids $!"
echo "HAProxy on http://127.0.0.1:8080 (x-user picks the node, then the actor)"
wait
