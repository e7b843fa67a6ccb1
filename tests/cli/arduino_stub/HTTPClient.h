#pragma once
#include "Arduino_stub.h"
class HTTPClient {
 public:
  bool begin(WiFiClient&, const char* url) { printf("URL %s\n", url); return true; }
  void addHeader(const char* name, const String& value) { printf("HEADER %s: %s\n", name, value.c_str()); }
  int POST(const String& body) { printf("BODY %s\n", body.c_str()); return 200; }
  String getString() { return String("{\"led\":true}"); }
  String errorToString(int) { return String("error"); }
  void end() {}
};
