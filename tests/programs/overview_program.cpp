// The Overview seed's test program, in C++: run as
//   overview-program SERVER DOCUMENT_SET_ID API_TOKEN OUTPUT
// DOCUMENT_SET_ID picks the behaviour, exactly as the seed's simulate_a_program, plus a few
// behaviours the seed could not test (cancel, grandchildren, stat failures).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

namespace {

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }
void write_output(const char* path) { std::ofstream(path) << "data"; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: overview-program SERVER DOCUMENT_SET_ID API_TOKEN OUTPUT\n";
    return 2;
  }
  const std::string id = argv[2];
  const std::string token = argv[3];
  const char* out = argv[4];
  if (id == "succeed") return write_output(out), 0;
  if (id == "fail") return std::cerr << token, 1;
  if (id == "succeedbutforgettowritefile") return 0;
  if (id == "succeedbutwritejunktostdout") {
    std::cout << "not progress" << std::endl;
    sleep_ms(200);
    return write_output(out), 0;
  }
  if (id == "sleephalfsecond") return sleep_ms(500), write_output(out), 0;
  if (id == "writeprogress") {
    // API_TOKEN like "0.2N0.3ThiN0.9Tbye": N separates lines, T is a tab.
    std::string line;
    for (char c : token + "N") {
      if (c == 'N') {
        std::cout << line << std::endl;
        line.clear();
        sleep_ms(300);
      } else {
        line += c == 'T' ? '\t' : c;
      }
    }
    return write_output(out), 0;
  }
  if (id == "sleepforever") {
    std::cout << "0.5\tsleeping" << std::endl;
    for (;;) sleep_ms(1000);
  }
  if (id == "spawngrandchild") {
    // API_TOKEN is a file to write the grandchild's pid to.
    pid_t child = fork();
    if (child == 0) {
      for (;;) sleep_ms(1000);
    }
    std::ofstream(token) << child;
    std::cout << "0.5\tgrandchild started" << std::endl;
    for (;;) sleep_ms(1000);
  }
  if (id == "statfail") {
    // Replace the output by a symlink to itself: stat() fails with ELOOP.
    unlink(out);
    return symlink(out, out) == 0 ? 0 : 3;
  }
  std::cerr << "invalid document_set_id: '" << id << "'\n";
  return 1;
}
