#!/usr/bin/env bash
# CI smoke test for an HTTP-device / IoT Flow integration: start the emulator, provision everything
# from the CLI, send uplinks, and fail on any missed expectation.
#
# Run:   examples/ci-smoke.sh              (needs iotcli and python3 on PATH; nothing else, no config)
#        IOTCLI="python -m iotcli" examples/ci-smoke.sh
# Exit:  0 when every check passed; 1 and a "FAILED: ..." line on the first one that did not.
#
# What it checks:
#   1. an HTTP device with a bucket and a response property gets 20 uplinks (--repeat, placeholders):
#      all answered 2xx, all stored, and the device receives its command back;
#   2. a wrong token is refused (exit code 4);
#   3. an IoT Flow-style connection forwards a LoRaWAN uplink to an application server
#      (examples/app_server.py), which answers with a downlink on downlinkUrl; the downlink goes out
#      with the next uplink and the application gets DevEUI_downlink_Sent.
set -euo pipefail

IOTCLI=${IOTCLI:-iotcli}
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d)
# Isolated config and data: the smoke test never touches the user's profiles or emulator state.
export IOTCLI_CONFIG_DIR="$WORK/config" IOTCLI_DATA_DIR="$WORK/data"
unset IOTCLI_PROFILE IOTCLI_USER || true
TOKEN="ci-smoke-$RANDOM$RANDOM$RANDOM"
EMU_PID=""
APP_PID=""

cleanup() {
  local status=$?
  set +e
  [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null
  [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

fail() {
  echo "FAILED: $*" >&2
  if [ -f "$WORK/emulator.err" ]; then echo "--- emulator stderr" >&2; tail -n 20 "$WORK/emulator.err" >&2; fi
  if [ -f "$WORK/app.log" ]; then echo "--- app server log" >&2; tail -n 20 "$WORK/app.log" >&2; fi
  exit 1
}
ok() { echo "ok: $*"; }
iot() { $IOTCLI "$@"; }
# json FILE EXPR: evaluate a Python expression over the parsed JSON document `d`
json() { "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
wait_for() {  # wait_for SECONDS COMMAND...: retry until the command succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

# --- the emulator: in memory, on a free port ----------------------------------------------------
# Started directly (not through the iot function) so that $! is the emulator itself and cleanup stops it.
# shellcheck disable=SC2086
$IOTCLI --json emulate --in-memory --port 0 --token "$TOKEN" >"$WORK/emulator.json" 2>"$WORK/emulator.err" &
EMU_PID=$!
wait_for 20 json "$WORK/emulator.json" 'd["data"]["url"]' || fail "the emulator did not start"
export IOTCLI_SERVER IOTCLI_TOKEN="$TOKEN"
IOTCLI_SERVER=$(json "$WORK/emulator.json" 'd["data"]["url"]')
ok "emulator at $IOTCLI_SERVER"
iot emulator status >/dev/null || fail "emulator status"

# --- 1. an HTTP device ---------------------------------------------------------------------------
iot --json device create sensor-1 --bucket readings --response-property command --with-token >"$WORK/device.json" \
  || fail "device create"
DEVICE_TOKEN=$(json "$WORK/device.json" 'd["data"]["token"]["token"]')
iot property set sensor-1 command '{"led": true}' >/dev/null 2>&1 || fail "property set"
ok "device sensor-1 with bucket readings and a device token"

iot send-uplink --device sensor-1 --token "$DEVICE_TOKEN" --repeat 20 --concurrency 4 --json \
  --data '{"ts": {{now}}, "n": {{i}}, "temperature": {{random:18:25}}}' >"$WORK/send.json" \
  || fail "send-uplink --repeat 20 (exit $?): $(cat "$WORK/send.json")"
[ "$(json "$WORK/send.json" 'd["data"]["ok"]')" = 20 ] || fail "not every uplink was answered 2xx"
ok "20 uplinks answered 2xx ($(json "$WORK/send.json" 'd["data"]["rate_per_s"]')/s)"

iot --json bucket read readings --items 100 >"$WORK/bucket.json" || fail "bucket read"
[ "$(json "$WORK/bucket.json" 'len(d["data"])')" = 20 ] || fail "the bucket does not hold 20 records"
[ "$(json "$WORK/bucket.json" 'sorted(r["val"]["n"] for r in d["data"]) == list(range(1, 21))')" = True ] \
  || fail "the stored records are not uplinks 1..20"
ok "20 records stored"

iot send-uplink --device sensor-1 --token "$DEVICE_TOKEN" --json temperature:=21.5 >"$WORK/one.json" \
  || fail "single send-uplink"
[ "$(json "$WORK/one.json" 'd["data"]["body"]')" = "{'led': True}" ] || fail "the device did not get its command back"
ok "the device gets its command back"

set +e
iot send-uplink --device sensor-1 --token wrong-token temperature:=1 >/dev/null 2>&1
code=$?
set -e
[ "$code" = 4 ] || fail "a wrong token should exit 4, got $code"
ok "a wrong token is refused (exit 4)"

# --- 2. an IoT Flow-style connection and an application server -------------------------------------
"$PYTHON" "$HERE/app_server.py" --port 0 --downlink-hex 0a >"$WORK/app.log" 2>&1 &
APP_PID=$!
wait_for 10 grep -q "listening on" "$WORK/app.log" || fail "the app server did not start"
APP_URL=$(sed -n 's/^app server listening on \(.*\)$/\1/p' "$WORK/app.log" | head -n 1)
iot --json connection create smoke-app --destination "${APP_URL}uplink" >"$WORK/conn.json" || fail "connection create"
ok "connection to the app server at $APP_URL"

DEVEUI=0018B20000000B20
iot send-uplink --deveui $DEVEUI --fport 1 --payload-hex 0102 >/dev/null 2>&1 || fail "LoRaWAN uplink"
wait_for 10 grep -q "uplink DevEUI=$DEVEUI" "$WORK/app.log" || fail "the app server got no uplink"
ok "uplink forwarded to the app server"
wait_for 10 grep -q "downlink $DEVEUI -> 202" "$WORK/app.log" || fail "the app's downlink was not accepted"
# has_downlink STATUS: some downlink of the emulator is in that status
has_downlink() {
  iot --json downlink list >"$WORK/down.json" \
    && [ "$(json "$WORK/down.json" "any(x['status'] == '$1' for x in d['data'])")" = True ]
}
wait_for 10 has_downlink queued || fail "the downlink is not queued"
ok "the app's downlink is queued"

iot send-uplink --deveui $DEVEUI --fport 1 --payload-hex 0103 >/dev/null 2>&1 || fail "second LoRaWAN uplink"
wait_for 15 has_downlink sent || fail "the downlink did not go out with the next uplink"
wait_for 15 grep -q "DevEUI_downlink_Sent DevEUI=$DEVEUI" "$WORK/app.log" || fail "the app got no DevEUI_downlink_Sent"
ok "downlink sent with the next uplink; the app got DevEUI_downlink_Sent"

echo "smoke test passed"
