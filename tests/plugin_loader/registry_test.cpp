// PluginRegistry against the fixture plugins of tests/plugin_loader/fixtures: every refusal is one exact
// sentence naming the file, a refused plugin registers nothing, and a good plugin arrives intact.
#include <dlfcn.h>
#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "loupe/c/loupe_plugin.h"
#include "loupe/core/plugin.hpp"

namespace loupe {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::StartsWith;

const std::string kHostRange = "v1.0–v1." + std::to_string(LOUPE_PLUGIN_ABI_MINOR);

std::string Fixture(const std::string& name) {
  return std::string(LOUPE_FIXTURE_DIR) + "/lib" + name + ".so";
}

// The fixture's path as the loader quotes it. (Built with += because GCC 12 gives a false -Wrestrict
// warning for "'" + std::string&&.)
std::string Q(const std::string& name) {
  std::string quoted = "'";
  quoted += Fixture(name);
  quoted += "'";
  return quoted;
}

// Any path as the loader quotes it.
std::string Quote(const std::string& path) {
  std::string quoted = "'";
  quoted += path;
  quoted += "'";
  return quoted;
}

// A copy of libcfixture.so in the test's temporary folder, changed by `patch`.
fs::path PatchedCopy(const std::string& name, const std::function<void(std::vector<char>&)>& patch) {
  std::ifstream in(Fixture("cfixture"), std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  patch(bytes);
  const fs::path copy =
      fs::path(::testing::TempDir()) / ("lib" + name + "_" + std::to_string(getpid()) + ".so");
  std::ofstream(copy, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return copy;
}

// True while the dynamic loader has the library mapped (RTLD_NOLOAD never loads it).
bool IsMapped(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  dlclose(handle);
  return true;
}

std::vector<std::string> Names(const PluginRegistry& registry) {
  std::vector<std::string> names;
  for (const LoadedExplainer* explainer : registry.Explainers())
    names.push_back(explainer->descriptor().name);
  return names;
}

// Loads `name` into a fresh registry (after `preload`, if given) and returns the failure's message.
std::string LoadError(const std::string& name, const std::string& preload = "") {
  PluginRegistry registry;
  if (!preload.empty()) {
    const Status status = registry.Load(Fixture(preload));
    if (!status.ok()) return "preload failed: " + status.message();
  }
  const std::size_t plugins_before = registry.Plugins().size();
  const std::size_t explainers_before = registry.Explainers().size();
  const Status status = registry.Load(Fixture(name));
  if (status.ok()) return "loaded";
  if (status.code() != StatusCode::kPluginError) return "wrong code: " + status.message();
  // A refused plugin leaves no trace.
  if (registry.Plugins().size() != plugins_before || registry.Explainers().size() != explainers_before) {
    return "registered something: " + status.message();
  }
  return status.message();
}

TEST(PluginRegistryTest, RefusesAMissingFile) {
  const std::string missing = std::string(LOUPE_FIXTURE_DIR) + "/libnope.so";
  EXPECT_EQ(PluginRegistry().Load(missing).message(), "plugin '" + missing + "' does not exist");
}

TEST(PluginRegistryTest, RefusesADirectory) {
  const std::string folder = std::string(LOUPE_FIXTURE_DIR) + "/stripped";
  EXPECT_EQ(PluginRegistry().Load(folder).message(), "plugin '" + folder + "' is not a regular file");
}

TEST(PluginRegistryTest, RefusesATextFile) {
  EXPECT_EQ(LoadError("not_a_library"), Q("not_a_library") + " is not a shared library");
}

TEST(PluginRegistryTest, RefusesATruncatedLibrary) {
  const fs::path truncated =
      fs::path(::testing::TempDir()) / ("libtruncated_" + std::to_string(getpid()) + ".so");
  {
    std::ifstream in(Fixture("good"), std::ios::binary);
    std::vector<char> head(40);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    std::ofstream(truncated, std::ios::binary).write(head.data(), in.gcount());
  }
  const Status status = PluginRegistry().Load(truncated);
  fs::remove(truncated);
  const std::string expected = "' is not a valid shared library: its ELF headers are damaged or truncated";
  EXPECT_EQ(status.message(), std::string("'").append(truncated.string()).append(expected));
}

TEST(PluginRegistryTest, RefusesALibraryWithoutEntry) {
  EXPECT_EQ(LoadError("plain_library"),
            Q("plain_library") + " is not a Loupe plugin: it exports no loupe_plugin_entry_v1");
}

TEST(PluginRegistryTest, RefusesAnEntryOutsideTheLoupeSection) {
  EXPECT_EQ(LoadError("entry_outside_section"),
            Q("entry_outside_section") +
                " exports loupe_plugin_entry_v1 outside the \"loupe\" section: define it with "
                "LOUPE_DEFINE_PLUGIN_ENTRY");
}

TEST(PluginRegistryTest, RefusesAnotherMajorBeforeLoading) {
  EXPECT_EQ(LoadError("wrong_major"),
            Q("wrong_major") + " was built for plugin ABI v2, this host supports " + kHostRange);
  EXPECT_FALSE(IsMapped(Fixture("wrong_major")));
}

TEST(PluginRegistryTest, RefusesANewerMinor) {
  EXPECT_EQ(LoadError("newer_minor"), Q("newer_minor") + " was built for plugin ABI v1." +
                                          std::to_string(LOUPE_PLUGIN_ABI_MINOR + 1) +
                                          ", this host supports " + kHostRange);
}

TEST(PluginRegistryTest, RefusesAnUnresolvedSymbol) {
  EXPECT_EQ(LoadError("unresolved"),
            Q("unresolved") + " could not be loaded: undefined symbol: loupe_fixture_undefined_function");
}

TEST(PluginRegistryTest, CatchesExceptionsFromTheEntry) {
  EXPECT_EQ(LoadError("throws"),
            "the entry of " + Q("throws") + " threw an exception: fixture entry failed on purpose");
  EXPECT_EQ(LoadError("throws_unknown"),
            "the entry of " + Q("throws_unknown") + " threw an unknown exception");
}

TEST(PluginRegistryTest, ReportsTheEntrysOwnRefusal) {
  EXPECT_EQ(LoadError("refuses"),
            Q("refuses") + " refused to load: it needs a GPU, and this machine has none");
}

TEST(PluginRegistryTest, RefusesABadMagic) {
  EXPECT_EQ(LoadError("bad_magic"), Q("bad_magic") +
                                        " returned plugin info whose magic is 0x123456789ABCDEF, expected "
                                        "0x474C504550554F4C (\"LOUPEPLG\")");
}

TEST(PluginRegistryTest, RefusesMalformedExplainers) {
  EXPECT_EQ(LoadError("twice"), Q("twice") + " defines explainer 'twice.same' twice");
  EXPECT_EQ(LoadError("bad_name"),
            Q("bad_name") +
                " names explainer #1 'NoDot', expected \"plugin.explainer\" (lowercase "
                "letters, digits and '_', one dot)");
  EXPECT_EQ(LoadError("no_explain"),
            Q("no_explain") + " defines explainer 'variant.explain' without an explain function");
}

TEST(PluginRegistryTest, RefusesMalformedParameterSpecs) {
  EXPECT_EQ(LoadError("enum_without_choices"),
            Q("enum_without_choices") +
                " defines enum parameter 'mode' of explainer 'variant.explain' without choices");
  EXPECT_EQ(LoadError("default_not_json"),
            Q("default_not_json") +
                " gives parameter 'width' of explainer 'variant.explain' the default "
                "'{oops', which is not valid JSON");
  // The reason after the colon is CheckParamValue's own sentence.
  EXPECT_THAT(
      LoadError("default_rejected"),
      StartsWith(Q("default_rejected") +
                 " gives parameter 'count' of explainer 'variant.explain' a default that its own spec "
                 "rejects: parameter 'count'"));
}

TEST(PluginRegistryTest, RefusesAnExplainerNameThatIsTaken) {
  EXPECT_EQ(LoadError("good_duplicate", "good"),
            Q("good_duplicate") + " defines explainer 'good.alpha', which " + Q("good") + " already defines");
  PluginRegistry registry;
  ASSERT_TRUE(registry.Load(Fixture("good")).ok());
  ASSERT_FALSE(registry.Load(Fixture("good_duplicate")).ok());
  EXPECT_EQ(registry.Find("variant.unique"), nullptr);  // its unique explainer was not registered either
  EXPECT_THAT(Names(registry), ElementsAre("good.alpha", "good.beta"));
}

TEST(PluginRegistryTest, RefusesLoadingTheSameFileTwice) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.Load(Fixture("good")).ok());
  EXPECT_EQ(registry.Load(Fixture("good")).message(), Q("good") + " is already loaded");
  EXPECT_EQ(registry.Plugins().size(), 1u);
}

TEST(PluginRegistryTest, DescribesAGoodPlugin) {
  PluginRegistry registry;
  const Status status = registry.Load(Fixture("good"));
  ASSERT_TRUE(status.ok()) << status.message();
  ASSERT_EQ(registry.Plugins().size(), 1u);
  const PluginSummary& plugin = registry.Plugins()[0];
  EXPECT_EQ(plugin.name, "good");
  EXPECT_EQ(plugin.version, "1.2.3");
  EXPECT_EQ(plugin.description, "A well-formed fixture plugin.");
  EXPECT_EQ(plugin.path, Fixture("good"));
  EXPECT_EQ(plugin.abi_major, 1u);
  EXPECT_EQ(plugin.abi_minor, static_cast<unsigned>(LOUPE_PLUGIN_ABI_MINOR));
  EXPECT_THAT(plugin.explainers, ElementsAre("good.alpha", "good.beta"));
  EXPECT_THAT(Names(registry), ElementsAre("good.alpha", "good.beta"));

  const LoadedExplainer* beta = registry.Find("good.beta");
  ASSERT_NE(beta, nullptr);
  EXPECT_EQ(beta->descriptor().summary, "Fits one tree to the model's outputs.");
  EXPECT_EQ(beta->descriptor().output_kind, "surrogate_tree");
  EXPECT_EQ(beta->descriptor().scope, ExplainerScope::kGlobal);
  EXPECT_THAT(beta->descriptor().required_capabilities, ElementsAre("tree_ensemble"));
  EXPECT_TRUE(beta->descriptor().params.empty());
  EXPECT_EQ(beta->descriptor().plugin_name, "good");
  EXPECT_EQ(beta->descriptor().plugin_version, "1.2.3");
  EXPECT_EQ(beta->descriptor().plugin_path, Fixture("good"));
}

TEST(PluginRegistryTest, ConvertsParameterSpecs) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.Load(Fixture("good")).ok());
  const LoadedExplainer* alpha = registry.Find("good.alpha");
  ASSERT_NE(alpha, nullptr);
  const ExplainerDescriptor& d = alpha->descriptor();
  EXPECT_EQ(d.scope, ExplainerScope::kLocal);
  EXPECT_EQ(d.output_kind, "feature_attribution");
  ASSERT_EQ(d.params.size(), 8u);

  const ParamSpec& nsamples = d.params[0];
  EXPECT_EQ(nsamples.name, "nsamples");
  EXPECT_EQ(nsamples.type, ParamType::kInt);
  EXPECT_EQ(nsamples.doc, "Coalitions sampled per row.");
  EXPECT_EQ(nsamples.default_value, nlohmann::json(2048));
  EXPECT_EQ(nsamples.min_value, 1.0);
  EXPECT_EQ(nsamples.max_value, 1000000.0);
  EXPECT_FALSE(nsamples.required);

  const ParamSpec& width = d.params[1];
  EXPECT_EQ(width.type, ParamType::kFloat);
  EXPECT_EQ(width.default_value, nlohmann::json(0.75));
  EXPECT_EQ(width.min_value, 0.0);
  EXPECT_FALSE(width.max_value.has_value());

  const ParamSpec& output = d.params[2];
  EXPECT_EQ(output.type, ParamType::kEnum);
  EXPECT_THAT(output.choices, ElementsAre("probability", "raw"));
  EXPECT_EQ(output.default_value, nlohmann::json("probability"));

  EXPECT_EQ(d.params[3].type, ParamType::kBool);
  EXPECT_EQ(d.params[3].default_value, nlohmann::json(false));
  EXPECT_EQ(d.params[4].type, ParamType::kRows);
  EXPECT_EQ(d.params[4].default_value, nlohmann::json("0:100"));
  EXPECT_EQ(d.params[5].type, ParamType::kJson);
  EXPECT_FALSE(d.params[5].default_value.has_value());
  EXPECT_EQ(d.params[6].type, ParamType::kStringList);
  EXPECT_EQ(d.params[6].default_value, nlohmann::json::array());

  const ParamSpec& tag = d.params[7];
  EXPECT_EQ(tag.type, ParamType::kString);
  EXPECT_TRUE(tag.required);
  EXPECT_FALSE(tag.default_value.has_value());
  EXPECT_TRUE(tag.choices.empty());
}

TEST(PluginRegistryTest, LoadsAPluginWrittenInC) {
  PluginRegistry registry;
  const Status status = registry.Load(Fixture("cfixture"));
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_THAT(Names(registry), ElementsAre("cfixture.constant"));
  EXPECT_EQ(registry.Find("cfixture.constant")->descriptor().params.at(0).default_value, nlohmann::json(1));
}

TEST(PluginRegistryTest, LoadsAStrippedPlugin) {
  PluginRegistry registry;
  const std::string stripped = std::string(LOUPE_FIXTURE_DIR) + "/stripped/libcfixture.so";
  const Status status = registry.Load(stripped);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_THAT(Names(registry), ElementsAre("cfixture.constant"));
}

// The loader reads the dynamic symbol table, which `strip` keeps: a stripped library is judged before it is
// loaded, with the sentence its unstripped original gets.
TEST(PluginRegistryTest, JudgesAStrippedLibraryBeforeLoadingIt) {
  const std::string stripped = std::string(LOUPE_FIXTURE_DIR) + "/stripped/";
  const std::string wrong_major = stripped + "libwrong_major.so";
  EXPECT_EQ(PluginRegistry().Load(wrong_major).message(),
            Quote(wrong_major) + " was built for plugin ABI v2, this host supports " + kHostRange);
  EXPECT_FALSE(IsMapped(wrong_major));
  const std::string outside = stripped + "libentry_outside_section.so";
  EXPECT_EQ(PluginRegistry().Load(outside).message(),
            Quote(outside) +
                " exports loupe_plugin_entry_v1 outside the \"loupe\" section: define it with "
                "LOUPE_DEFINE_PLUGIN_ENTRY");
  EXPECT_FALSE(IsMapped(outside));
}

// Damaged headers are refused with one sentence, never read past the end of the file.
TEST(PluginRegistryTest, RefusesDamagedElfHeaders) {
  const std::string damaged = " is not a valid shared library: its ELF headers are damaged or truncated";
  const auto header = [](std::vector<char>& bytes) {
    Elf64_Ehdr h;
    std::memcpy(&h, bytes.data(), sizeof h);
    return h;
  };
  const auto set_header = [](std::vector<char>& bytes, const Elf64_Ehdr& h) {
    std::memcpy(bytes.data(), &h, sizeof h);
  };
  // The section headers cut off.
  const fs::path cut = PatchedCopy(
      "cut", [&](std::vector<char>& bytes) { bytes.resize(header(bytes).e_shoff + sizeof(Elf64_Shdr) / 2); });
  EXPECT_EQ(PluginRegistry().Load(cut).message(), Quote(cut.string()) + damaged);
  // Section headers of the wrong size.
  const fs::path entsize = PatchedCopy("entsize", [&](std::vector<char>& bytes) {
    Elf64_Ehdr h = header(bytes);
    h.e_shentsize = 40;
    set_header(bytes, h);
  });
  EXPECT_EQ(PluginRegistry().Load(entsize).message(), Quote(entsize.string()) + damaged);
  // Neither ELFCLASS32 nor ELFCLASS64.
  const fs::path elf_class = PatchedCopy("class", [](std::vector<char>& bytes) { bytes[EI_CLASS] = 3; });
  EXPECT_EQ(PluginRegistry().Load(elf_class).message(), Quote(elf_class.string()) + damaged);
  // The dynamic symbol table's sizes reaching past the end of the file.
  const fs::path dynsym = PatchedCopy("dynsym", [&](std::vector<char>& bytes) {
    const Elf64_Ehdr h = header(bytes);
    for (std::size_t i = 0; i < h.e_shnum; ++i) {
      Elf64_Shdr section;
      char* at = bytes.data() + h.e_shoff + i * sizeof section;
      std::memcpy(&section, at, sizeof section);
      if (section.sh_type == SHT_DYNSYM) section.sh_size = bytes.size();
      std::memcpy(at, &section, sizeof section);
    }
  });
  EXPECT_EQ(PluginRegistry().Load(dynsym).message(), Quote(dynsym.string()) + damaged);
  // Without section headers nothing is known to be exported.
  const fs::path headless = PatchedCopy("headless", [&](std::vector<char>& bytes) {
    Elf64_Ehdr h = header(bytes);
    h.e_shoff = 0;
    h.e_shnum = 0;
    h.e_shstrndx = 0;
    set_header(bytes, h);
  });
  EXPECT_EQ(PluginRegistry().Load(headless).message(),
            Quote(headless.string()) + " is not a Loupe plugin: it exports no loupe_plugin_entry_v1");
  for (const fs::path& file : {cut, entsize, elf_class, dynsym, headless}) {
    EXPECT_FALSE(IsMapped(file.string())) << file;
    fs::remove(file);
  }
}

TEST(PluginRegistryTest, AnExplainerKeepsItsLibraryLoaded) {
  const std::string path = Fixture("cfixture");
  ASSERT_FALSE(IsMapped(path));
  std::shared_ptr<const LoadedExplainer> kept;
  {
    PluginRegistry registry;
    ASSERT_TRUE(registry.Load(path).ok());
    kept = registry.FindShared("cfixture.constant");
    ASSERT_NE(kept, nullptr);
    EXPECT_EQ(kept.get(), registry.Find("cfixture.constant"));
  }
  EXPECT_TRUE(IsMapped(path));
  EXPECT_EQ(kept->descriptor().name, "cfixture.constant");
  kept.reset();
  EXPECT_FALSE(IsMapped(path));  // the last owner let go, so the library is unloaded
}

TEST(PluginRegistryTest, ACopyOfTheRegistrySharesTheLibraries) {
  const std::string path = Fixture("cfixture");
  auto original = std::make_unique<PluginRegistry>();
  ASSERT_TRUE(original->Load(path).ok());
  const PluginRegistry copy = *original;
  original.reset();
  EXPECT_TRUE(IsMapped(path));
  ASSERT_NE(copy.Find("cfixture.constant"), nullptr);
  EXPECT_EQ(copy.Plugins().at(0).name, "cfixture");
}

TEST(PluginRegistryTest, LoadDirectoryReturnsExactlyTheFailures) {
  PluginRegistry registry;
  std::vector<std::string> messages;
  for (const Status& status : registry.LoadDirectory(LOUPE_FIXTURE_DIR)) messages.push_back(status.message());
  ASSERT_EQ(messages.size(), 17u) << ::testing::PrintToString(messages);
  // Sorted by file name; libcfixture.so and libgood.so load, and the stripped/ subfolder is not searched.
  EXPECT_EQ(messages[0], LoadError("bad_magic"));
  EXPECT_EQ(messages[1], LoadError("bad_name"));
  EXPECT_EQ(messages[2], LoadError("default_not_json"));
  EXPECT_EQ(messages[3], LoadError("default_rejected"));
  EXPECT_EQ(messages[4], LoadError("entry_outside_section"));
  EXPECT_EQ(messages[5], LoadError("enum_without_choices"));
  EXPECT_EQ(messages[6],
            Q("good_duplicate") + " defines explainer 'good.alpha', which " + Q("good") + " already defines");
  EXPECT_EQ(messages[7], Q("newer_minor") + " was built for plugin ABI v1." +
                             std::to_string(LOUPE_PLUGIN_ABI_MINOR + 1) + ", this host supports " +
                             kHostRange);
  EXPECT_EQ(messages[8], LoadError("no_explain"));
  EXPECT_EQ(messages[9], Q("not_a_library") + " is not a shared library");
  EXPECT_EQ(messages[10], LoadError("plain_library"));
  EXPECT_EQ(messages[11], LoadError("refuses"));
  EXPECT_EQ(messages[12], LoadError("throws"));
  EXPECT_EQ(messages[13], LoadError("throws_unknown"));
  EXPECT_EQ(messages[14], LoadError("twice"));
  EXPECT_EQ(messages[15], LoadError("unresolved"));
  EXPECT_EQ(messages[16],
            Q("wrong_major") + " was built for plugin ABI v2, this host supports " + kHostRange);
  EXPECT_THAT(Names(registry), ElementsAre("cfixture.constant", "good.alpha", "good.beta"));
}

TEST(PluginRegistryTest, LoadDirectoryOfAMissingFolderFails) {
  const std::string missing = std::string(LOUPE_FIXTURE_DIR) + "/no_such_folder";
  PluginRegistry registry;
  const std::vector<Status> failures = registry.LoadDirectory(missing);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].message(), "plugin folder '" + missing + "' does not exist");
}

TEST(PluginRegistryTest, SuggestsTheClosestName) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.Load(Fixture("good")).ok());
  ASSERT_TRUE(registry.Load(Fixture("cfixture")).ok());
  EXPECT_EQ(registry.Suggest("good.alpah"), "good.alpha");
  EXPECT_EQ(registry.Suggest("good.bet"), "good.beta");
  EXPECT_EQ(registry.Suggest("cfixture.konstant"), "cfixture.constant");
  EXPECT_EQ(registry.Suggest("shap.kernel"), "");
  EXPECT_EQ(PluginRegistry().Suggest("good.alpha"), "");
}

TEST(PluginSearchPathTest, BuiltInFolderThenEnvironmentThenExtra) {
  const fs::path program = fs::read_symlink("/proc/self/exe");
  const fs::path built_in = (program.parent_path() / "../lib/loupe/plugins").lexically_normal();
  std::vector<fs::path> expected;
  if (fs::is_directory(built_in)) expected.push_back(built_in);
  expected.insert(expected.end(), {"/opt/a", "/opt/b", "/opt/c"});

  ASSERT_EQ(setenv("LOUPE_PLUGIN_PATH", "/opt/a::/opt/b/:/opt/a", 1), 0);
  const std::vector<fs::path> path = PluginSearchPath({"/opt/c", "/opt/b"});
  unsetenv("LOUPE_PLUGIN_PATH");
  EXPECT_EQ(path, expected);
}

TEST(PluginSearchPathTest, RelativeEntriesBecomeAbsolute) {
  unsetenv("LOUPE_PLUGIN_PATH");
  const std::vector<fs::path> path = PluginSearchPath({"plugins"});
  ASSERT_FALSE(path.empty());
  EXPECT_EQ(path.back(), (fs::current_path() / "plugins").lexically_normal());
}

}  // namespace
}  // namespace loupe
