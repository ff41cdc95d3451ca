#pragma once
// Loading config text in tests as if from a file named `file`, and checking that a mistake is
// reported at its exact FILE:LINE:COL.
#include <catch2/catch.hpp>
#include <string>

#include "daemon/config_loader.h"

namespace outpost::config::test {

inline LoadResult load_named(const std::string& text, const std::string& file) {
  return load_config_text(text, file, LoadOptions{OUTPOST_SOURCE_DIR "/daemon/profiles"});
}

// One mistake per case: the loader must name the exact line and column and say what is wrong.
inline void expect_error_named(const std::string& text, const std::string& file, int line, int column,
                               const std::string& fragment) {
  auto r = load_named(text, file);
  INFO(text);
  INFO(r.errors.to_string());
  REQUIRE_FALSE(r.config);
  bool found = false;
  for (const auto& e : r.errors.list())
    if (e.file == file && e.line == line && e.column == column && e.message.find(fragment) != std::string::npos)
      found = true;
  CHECK(found);
}

}  // namespace outpost::config::test
