#include "core/spec.hpp"

#include <gtest/gtest.h>

namespace wq {
namespace {

TaskConfig docset_task() {
  TaskConfig t;
  t.name = "process-docset";
  t.params = {ParamSpec{.name = "server"}, ParamSpec{.name = "document_set_id"},
              ParamSpec{"api_token", true, true, std::nullopt},
              ParamSpec{"lang", false, false, boost::json::value("en")}};
  t.max_attempts = 2;
  return t;
}

JobSpec spec(boost::json::object params) {
  JobSpec s;
  s.task = "process-docset";
  s.params = std::move(params);
  return s;
}

}  // namespace

TEST(Spec, SecretParamsAreSplitOffAndDefaultsFilledIn) {
  auto nj = prepare_job(spec({{"server", "https://o"}, {"document_set_id", "1"}, {"api_token", "t0k"}}),
                        docset_task(), now_ms());
  ASSERT_TRUE(nj) << nj.error().detail;
  EXPECT_FALSE(nj->job.params.contains("api_token"));
  EXPECT_EQ(nj->secrets.at("api_token").as_string(), "t0k");
  EXPECT_EQ(nj->job.params.at("lang").as_string(), "en");
  EXPECT_EQ(nj->job.max_attempts, 2);
  EXPECT_EQ(nj->job.state, JobState::queued);
  EXPECT_EQ(nj->job.key, nj->spec_hash);
  EXPECT_EQ(nj->job.key.find("t0k"), std::string::npos);
}

TEST(Spec, DerivedKeyDependsOnSecretsButNotOnParamOrder) {
  const auto now = now_ms();
  auto a = prepare_job(spec({{"server", "s"}, {"document_set_id", "1"}, {"api_token", "a"}}), docset_task(), now);
  auto b = prepare_job(spec({{"api_token", "a"}, {"document_set_id", "1"}, {"server", "s"}}), docset_task(), now);
  auto c = prepare_job(spec({{"server", "s"}, {"document_set_id", "1"}, {"api_token", "b"}}), docset_task(), now);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->job.key, b->job.key);
  EXPECT_NE(a->job.key, c->job.key);
  EXPECT_NE(a->job.id, b->job.id);
}

TEST(Spec, UnknownAndMissingParamsAreBadInputNamingTheParam) {
  auto unknown = prepare_job(spec({{"server", "s"}, {"document_set_id", "1"}, {"api_token", "a"}, {"colour", 1}}),
                             docset_task(), now_ms());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::bad_input);
  EXPECT_NE(unknown.error().detail.find("unknown param 'colour'"), std::string::npos);
  auto missing = prepare_job(spec({{"server", "s"}, {"api_token", "a"}}), docset_task(), now_ms());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().detail.find("missing param 'document_set_id'"), std::string::npos);
}

TEST(Spec, CallerIdMustBeSafe) {
  JobSpec s = spec({{"server", "s"}, {"document_set_id", "1"}, {"api_token", "a"}});
  s.id = "../etc/passwd";
  auto r = prepare_job(s, docset_task(), now_ms());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::bad_input);
  s.id = "my-job.1";
  auto ok = prepare_job(s, docset_task(), now_ms());
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->id_given);
  EXPECT_EQ(ok->job.id, "my-job.1");
}

TEST(Spec, TaskWithoutDeclaredParamsAcceptsAny) {
  TaskConfig t;
  t.name = "fn";
  JobSpec s;
  s.task = "fn";
  s.params = {{"anything", boost::json::array{1, 2}}};
  auto r = prepare_job(s, t, now_ms());
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->job.params.contains("anything"));
}

}  // namespace wq
