// A tiny host-side stand-in for the Arduino core, WiFi and HTTPClient: enough to compile a sketch with
// g++ and print the request it would send (tests/cli/test_snippet.py checks URL, headers and body).
#pragma once
#include <cstdarg>
#include <cstdio>
#include <string>

class String {
 public:
  std::string s;
  String() {}
  String(const char* c) : s(c) {}
  String(const std::string& x) : s(x) {}
  String(float f) { char b[32]; snprintf(b, sizeof b, "%.2f", f); s = b; }
  String(long v) : s(std::to_string(v)) {}
  String(int v) : s(std::to_string(v)) {}
  String operator+(const String& o) const { return String(s + o.s); }
  String operator+(const char* o) const { return String(s + o); }
  size_t length() const { return s.size(); }
  const char* c_str() const { return s.c_str(); }
};

struct SerialPort {
  void begin(long) {}
  void print(const char* t) { printf("SERIAL %s\n", t); }
  void println(const char* t) { printf("SERIAL %s\n", t); }
  void println(const String& t) { printf("SERIAL %s\n", t.c_str()); }
  void printf(const char* fmt, ...) {
    va_list ap; va_start(ap, fmt); std::vprintf(fmt, ap); va_end(ap);
  }
};
static SerialPort Serial;
inline void delay(unsigned long) {}
