#!/usr/bin/env bash
# CI smoke test of an HTTP-device / IoT Flow integration, offline: a background emulator, the environment
# of examples/smoke-env.toml (a device, a bucket, an application sink, a connection), and `iotcli wait`.
# Run:   examples/ci-smoke.sh   (needs only iotcli on PATH; or IOTCLI="python -m iotcli" examples/ci-smoke.sh)
# Exit:  0 when every check passed; 1 and a "FAILED: ..." line on the first one that did not.
set -euo pipefail
IOTCLI=${IOTCLI:-iotcli}; HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); WORK=$(mktemp -d); DEV=0018B20000000B20
export IOTCLI_CONFIG_DIR="$WORK/config" IOTCLI_DATA_DIR="$WORK/data" IOTCLI_TOKEN="ci-smoke-$RANDOM$RANDOM"
iot() { $IOTCLI "$@"; }
ok() { echo "ok: $*"; }; fail() { echo "FAILED: $*" >&2; exit 1; }
trap 'iot emulator stop >/dev/null 2>&1; rm -rf "$WORK"' EXIT
IOTCLI_SERVER=$(iot emulate --detach --in-memory --port 0 --token "$IOTCLI_TOKEN" --time-scale 0.1) || fail "emulator"
export IOTCLI_SERVER && ok "emulator at $IOTCLI_SERVER"
iot apply -f "$HERE/smoke-env.toml" >/dev/null 2>&1 || fail "apply smoke-env.toml"
iot apply -f "$HERE/smoke-env.toml" 2>&1 | grep -q "nothing to change" || fail "a second apply changed something"
ok "provisioned from smoke-env.toml; a second apply changes nothing"
iot send-uplink --device sensor-1 --repeat 20 --data '{"n": {{i}}, "t": {{random:18:25}}}' >/dev/null || fail "20 uplinks"
iot wait bucket readings --count 20 --timeout 10s || fail "the bucket does not hold 20 records"
[ "$(iot send-uplink --device sensor-1 t:=21.5 | tr -d ' \n')" = '{"led":true}' ] || fail "no command back"
ok "20 uplinks stored; the device gets its command back"
code=0; iot send-uplink --device sensor-1 --token wrong-token t:=1 >/dev/null 2>&1 || code=$?
[ "$code" = 4 ] || fail "a wrong token should exit 4, got $code"; ok "a wrong token is refused (exit 4)"
iot send-uplink --deveui $DEV --fport 1 --payload-hex 0102 >/dev/null || fail "LoRaWAN uplink"
iot wait sink app --count 2 --header X-Thing=$DEV --timeout 10s || fail "the application got no resent uplink"
iot wait deliveries --status delivered --timeout 10s || fail "the uplink was not delivered after the 503"
iot wait downlink --status queued --deveui $DEV --timeout 10s || fail "the application's downlink is not queued"
ok "uplink resent after a 503 with the X-Thing header; the application's downlink is queued"
iot send-uplink --deveui $DEV --fport 1 --payload-hex 0103 >/dev/null || fail "second LoRaWAN uplink"
iot wait downlink --status sent --timeout 10s || fail "the downlink did not go out with the next uplink"
iot wait sink app --field DevEUI_downlink_Sent.DeliveryStatus=1 --timeout 10s || fail "no DevEUI_downlink_Sent"
ok "downlink sent with the next uplink; the application got DevEUI_downlink_Sent"
echo "smoke test passed"
