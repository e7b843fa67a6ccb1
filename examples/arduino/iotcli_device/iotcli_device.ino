// Send readings to the HTTP device 'sensor-1' from an ESP32 or ESP8266 and print the answer.
//
// Run: open in the Arduino IDE (board: ESP32 or ESP8266), set WIFI_SSID and WIFI_PASSWORD, upload,
// and watch the Serial Monitor at 115200 baud. The answer holds data for the device (its
// send_property), e.g. a command to act on.
//
// !! CALLBACK_URL below points at 127.0.0.1: on the board that is the board itself, so the
// !! request never reaches this computer. Run the emulator on the LAN instead, with a token of your own
// !! (it refuses to listen beyond this machine with a generated one):
// !!   iotcli emulate --host 0.0.0.0 --port 8100 --token <a-long-secret>
// !! and use this computer's LAN address (Linux: hostname -I, macOS: ipconfig getifaddr en0,
// !! Windows: ipconfig), e.g. 192.168.1.20:
// !!   CALLBACK_URL = "http://<LAN-IP>:8100/v3/users/local/devices/sensor-1/callback/data"
// !! or print this sketch with it filled in:
// !!   iotcli --server http://<that address>:8100 --token <a-long-secret> device snippet sensor-1 --lang arduino
// !! Keep that port closed to networks you do not trust.
#if defined(ESP8266)
#include <ESP8266WiFi.h>
#include <ESP8266HTTPClient.h>
#else
#include <WiFi.h>
#include <HTTPClient.h>
#endif

const char* WIFI_SSID = "<WIFI_SSID>";
const char* WIFI_PASSWORD = "<WIFI_PASSWORD>";
const char* CALLBACK_URL = "http://127.0.0.1:8100/v3/users/local/devices/sensor-1/callback/data";
const char* DEVICE_TOKEN = "<DEVICE_TOKEN>";
const unsigned long SEND_EVERY_MS = 60000;

String buildBody() {
  float temperature = 21.5;  // replace with your sensor reading
  long humidity = 48;  // replace with your sensor reading
  return String("{\"temperature\":")
         + String(temperature)
         + ",\"humidity\":"
         + String(humidity)
         + "}";
}

void sendReading() {
  WiFiClient client;
  HTTPClient http;
  http.begin(client, CALLBACK_URL);
  http.addHeader("Content-Type", "application/json");
  http.addHeader("Authorization", String("Bearer ") + DEVICE_TOKEN);
  String body = buildBody();
  int status = http.POST(body);
  if (status > 0) {
    String answer = http.getString();
    Serial.printf("HTTP %d\n", status);
    if (answer.length() > 0) {
      Serial.println(answer);  // data for the device
    }
  } else {
    Serial.printf("request failed: %s\n", http.errorToString(status).c_str());
  }
  http.end();
}

void setup() {
  Serial.begin(115200);
  WiFi.mode(WIFI_STA);
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  while (WiFi.status() != WL_CONNECTED) {
    delay(500);
    Serial.print(".");
  }
  Serial.println("\nWiFi connected");
}

void loop() {
  if (WiFi.status() == WL_CONNECTED) {
    sendReading();
  }
  delay(SEND_EVERY_MS);
}
