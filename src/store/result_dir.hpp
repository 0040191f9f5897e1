// The local result store and per-attempt scratch space under the data directory:
//   results/<last 2 chars of id>/<id>   published results
//   jobs/w<N>/                          a job directory (cwd of the program, status file)
//   tmp/<id>.<attempt>.out              {output}: the empty file the program overwrites
// Result and output paths derive from the job id (validated: [A-Za-z0-9._-], never "." or
// ".."), never from other user input. Publishing is one rename(2) on the same filesystem:
// atomic. A job directory belongs to one attempt at a time and is empty when handed out;
// an attempt that leaves it empty gives it back for reuse (making and removing a directory
// cost ~0.1 ms of kernel time per job on ext4, most of a short command's overhead), one it
// left files in is removed. open() holds the data directory's lock and removes leftovers
// of a previous process.
// Threading: all methods are safe from any thread: per-attempt paths are distinct, and the
// free job directories are a list under a mutex shared by copies of a ResultDir.
#pragma once

#include "store/file_lock.hpp"
#include "wq/error.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wq {

class ResultDir {
 public:
  // Paths as strings: a std::filesystem::path splits itself into components when made and
  // when copied, and an attempt's paths are made and copied a few times per job.
  struct Attempt {
    std::string job_dir;  // empty when the attempt needs none (function tasks)
    std::string output;
    std::string status_file;
    bool output_made = false;  // prepare() made {output}; else only a function task may make it
  };

  // Creates the layout, takes data_dir/LOCK (Errc::locked if another process has it) and
  // deletes tmp/ and jobs/ leftovers.
  static Result<ResultDir> open(const std::filesystem::path& data_dir);

  // What an attempt needs besides the name of its output path.
  struct Needs {
    bool job_dir = false;      // a program: its working directory (and status file path)
    bool output_file = false;  // the empty {output} file the program must overwrite
  };
  // The paths of one attempt, with what `needs` asks for made. Without an output file, only
  // names the output path, which the task may create (function tasks).
  Result<Attempt> prepare(std::string_view id, int attempt, Needs needs) const;
  // Moves the attempt's output to the job's result path (replacing an older result).
  // The error detail is the Overview text "Failed to link destination file: <reason>".
  Result<std::uint64_t> publish(std::string_view id, const Attempt& attempt) const;
  // Removes the attempt's output file, if still there, and its status file; the job directory
  // is kept for reuse if the program left nothing else in it, removed otherwise. Once per
  // attempt.
  void discard(const Attempt& attempt) const;

  std::filesystem::path result_path(std::string_view id) const;
  // Deletes a published result; true if one was there.
  bool remove(std::string_view id) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  struct FreeDirs {
    std::mutex mutex;
    std::vector<std::string> dirs;  // empty job directories
    std::uint64_t made = 0;         // names w0, w1, ... made so far
  };

  ResultDir(std::filesystem::path root, FileLock lock)
      : root_(std::move(root)), lock_(std::move(lock)), free_(std::make_shared<FreeDirs>()) {}
  Result<std::string> take_job_dir() const;
  // Whether the job directory is there and holds nothing but (and then no longer) its status
  // file.
  static bool empty_but_status(const std::string& dir, const std::string& status_file);

  std::filesystem::path root_;
  FileLock lock_;
  std::shared_ptr<FreeDirs> free_;
};

}  // namespace wq
