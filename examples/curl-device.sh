#!/usr/bin/env bash
# Create an HTTP device with plain curl and post data to it, through the platform's own API paths
# (the same requests work against the emulator and a Thinger.io-style server).
#
# Run:   SERVER=http://127.0.0.1:8100 USER_ID=local TOKEN=<account token> examples/curl-device.sh [DEVICE]
#        (with `iotcli emulate` running: its banner shows the account token; `iotcli config show` too)
# Needs: curl. Exits non-zero when a request fails (curl --fail-with-body shows the error body).
# Runs again and again: a bucket or device that already exists is kept (its callback is set again).
#
# Steps: create bucket <DEVICE>-data -> create HTTP device -> set its callback (store in the bucket,
# answer with property "command") -> set the property -> create a device token -> POST a reading
# with the device token (the answer is the command) -> read the bucket back.
set -euo pipefail

SERVER=${SERVER:-http://127.0.0.1:8100}
USER_ID=${USER_ID:-local}
TOKEN=${TOKEN:?set TOKEN to the account token (iotcli emulate prints it)}
DEVICE=${1:-sensor-curl}
BUCKET="$DEVICE-data"
API="$SERVER/v1/users/$USER_ID"
V3="$SERVER/v3/users/$USER_ID"

call() {  # call METHOD URL [JSON]: an authenticated JSON request; prints the answer
  local method=$1 url=$2
  shift 2
  curl -sS --fail-with-body -X "$method" "$url" \
    -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" "$@"
  echo
}

exists() {  # exists URL: 0 when GET answers 200, 1 when 404; any other answer stops the script
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$1")
  case $code in
    200) return 0 ;;
    404) return 1 ;;
    *) echo "GET $1 answered $code" >&2; exit 1 ;;
  esac
}

if exists "$API/buckets/$BUCKET"; then
  echo "# bucket $BUCKET exists: kept"
else
  echo "# create bucket $BUCKET"
  call POST "$API/buckets" --data-raw "{\"bucket\": \"$BUCKET\", \"name\": \"$BUCKET\", \"enabled\": true, \"config\": {\"source\": \"write\"}}"
fi

if exists "$API/devices/$DEVICE"; then
  echo "# HTTP device $DEVICE exists: kept"
else
  echo "# create HTTP device $DEVICE"
  call POST "$API/devices" --data-raw "{\"device\": \"$DEVICE\", \"type\": \"HTTP\", \"name\": \"made with curl\"}"
fi

echo "# callback: store each payload in $BUCKET, answer with property 'command'"
call PUT "$V3/devices/$DEVICE/callback" \
  --data-raw "{\"actions\": {\"write_bucket\": \"$BUCKET\", \"send_property\": \"command\"}, \"properties\": {\"timeout\": 10}}"
call PUT "$V3/devices/$DEVICE/properties/command" --data-raw '{"value": {"led": "on"}}'

echo "# device token"
DEVICE_TOKEN=$(call POST "$API/devices/$DEVICE/tokens" --data-raw '{"token_name": "curl-example"}' \
  | sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p')
[ -n "$DEVICE_TOKEN" ] || { echo "no device token in the answer" >&2; exit 1; }

echo "# the device posts a reading to its callback URL; the answer is its command"
curl -sS --fail-with-body -X POST "$V3/devices/$DEVICE/callback/data" \
  -H "Authorization: Bearer $DEVICE_TOKEN" -H "Content-Type: application/json" \
  --data-raw '{"temperature": 21.5, "humidity": 48}'
echo

echo "# what the bucket holds"
call GET "$API/buckets/$BUCKET/data?items=10"
