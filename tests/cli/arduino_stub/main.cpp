#include "sketch.ino"
int main() {
  setup();
  sendReading();
  return 0;
}
