// The local result store and per-attempt scratch space under the data directory:
//   results/<last 2 chars of id>/<id>   published results
//   jobs/<id>/                          the job directory (cwd of the program, status file)
//   tmp/<id>.<attempt>.out              {output}: the empty file the program overwrites
// Every path is derived from the job id (validated: [A-Za-z0-9._-], never "." or ".."), never
// from other user input. Publishing is one rename(2) on the same filesystem: atomic.
// open() holds the data directory's lock and removes leftovers of a previous process.
// Threading: all methods are safe from any thread (they only touch distinct per-job paths).
#pragma once

#include "store/file_lock.hpp"
#include "wq/error.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

namespace wq {

class ResultDir {
 public:
  struct Attempt {
    std::filesystem::path job_dir;  // empty when the attempt needs none (function tasks)
    std::filesystem::path output;
    std::filesystem::path status_file;
  };

  // Creates the layout, takes data_dir/LOCK (Errc::locked if another process has it) and
  // deletes tmp/ and jobs/ leftovers.
  static Result<ResultDir> open(const std::filesystem::path& data_dir);

  // The paths of one attempt. For a program (`for_program`): also makes the job directory and
  // the empty output file it must overwrite. Otherwise only names the output path, which the
  // task may create (function tasks).
  Result<Attempt> prepare(std::string_view id, int attempt, bool for_program) const;
  // Moves the attempt's output to the job's result path (replacing an older result).
  // The error detail is the Overview text "Failed to link destination file: <reason>".
  Result<std::uint64_t> publish(std::string_view id, const Attempt& attempt) const;
  // Removes the attempt's job directory and output file, if still there.
  void discard(const Attempt& attempt) const;

  std::filesystem::path result_path(std::string_view id) const;
  // Deletes a published result; true if one was there.
  bool remove(std::string_view id) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  ResultDir(std::filesystem::path root, FileLock lock) : root_(std::move(root)), lock_(std::move(lock)) {}
  std::filesystem::path root_;
  FileLock lock_;
};

}  // namespace wq
