// PluginRegistry: finds, inspects, loads, validates and registers explainer plugins
// (docs/architecture.md §2).
//
// Loading runs in five steps, each of which can refuse the plugin with one sentence naming the file:
//   (1) inspect the dynamic symbol table without loading (an incompatible plugin's initialisers never run),
//   (2) load by absolute path with RTLD_NOW | RTLD_LOCAL (missing symbols fail now, not mid-run),
//   (3) resolve and call the entry, (4) validate what it returned, (5) register atomically.
// Boost.DLL is used only here and its exceptions are converted to Status at each call site.
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/core/plugin.hpp"
#include "loupe/sdk/detail/edit_distance.hpp"

namespace loupe {
namespace {

namespace dll = boost::dll;
namespace fs = std::filesystem;

using EntryFunction = const LoupePluginInfo*(std::uint32_t, std::uint32_t, char*, std::size_t);

constexpr std::string_view kEntryPrefix = "loupe_plugin_entry_v";
constexpr std::uint32_t kHostMajor = LOUPE_PLUGIN_ABI_MAJOR;
constexpr std::uint32_t kHostMinor = LOUPE_PLUGIN_ABI_MINOR;

// The smallest struct_size a producer built for ABI v1.0 can report: every field v1.0 defines. Later
// minors only append, so these minima never grow.
constexpr std::uint32_t kMinPluginInfoSize = offsetof(LoupePluginInfo, n_explainers) + sizeof(std::int64_t);
constexpr std::uint32_t kMinVTableSize = offsetof(LoupeExplainerVTable, destroy) + sizeof(void (*)());
constexpr std::uint32_t kMinParamSpecSize = offsetof(LoupeParamSpec, n_choices) + sizeof(std::int64_t);

// (Built with += because GCC 12 gives a false -Wrestrict warning for "'" + std::string&&.)
std::string Quoted(const fs::path& path) {
  std::string quoted = "'";
  quoted += path.native();
  quoted += "'";
  return quoted;
}

std::string HostAbiRange() {
  return "v" + std::to_string(kHostMajor) + ".0–v" + std::to_string(kHostMajor) + "." +
         std::to_string(kHostMinor);
}

// Text that came from outside (a loader, a plugin) made fit to end one of our sentences: one line, no
// trailing period or blanks.
std::string CleanReason(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && (text.back() == ' ' || text.back() == '.' || text.back() == '\t')) text.pop_back();
  return text;
}

// ---------------------------------------------------------------------------------------------------
// Step 0: the file.

Result<fs::path> ResolvePluginFile(const fs::path& library) {
  std::error_code ec;
  const fs::file_status status = fs::status(library, ec);
  if (status.type() == fs::file_type::not_found) {
    return PluginError("plugin " + Quoted(library) + " does not exist");
  }
  if (ec) return PluginError("plugin " + Quoted(library) + " cannot be accessed: " + ec.message());
  if (!fs::is_regular_file(status)) {
    return PluginError("plugin " + Quoted(library) + " is not a regular file");
  }
  // Boost.DLL resolves a bare name against the current directory; an absolute path is unambiguous.
  fs::path absolute = fs::absolute(library, ec);
  if (ec) return PluginError("plugin " + Quoted(library) + " has no absolute path: " + ec.message());
  return absolute.lexically_normal();
}

// ---------------------------------------------------------------------------------------------------
// Step 1: the dynamic symbol table, read without loading.
//
// The dynamic symbol table (.dynsym) is the one dlopen and dlsym use: it holds exactly what the library
// exports, it survives `strip`, and in a plugin it is a few kB at the start of the file. The file is opened
// once and read with five preads (ELF header, section headers, section names, .dynsym, its strings);
// Boost.DLL's library_info, used before, read the whole .symtab and .strtab (~53 kB of names per plugin)
// through an ifstream opened three times.

// A library file read at explicit offsets; every read is checked against the file's size, so a damaged or
// truncated header is refused instead of read past the end.
class ElfFile {
 public:
  explicit ElfFile(const fs::path& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat st {};
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0) size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~ElfFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  bool is_open() const { return fd_ >= 0; }

  // Reads `length` bytes at `offset` into `out`; false when they are not all inside the file.
  bool Read(std::uint64_t offset, std::uint64_t length, void* out) const {
    if (offset > size_ || length > size_ - offset) return false;
    return ReadUpTo(offset, length, out) == length;
  }

  // Reads at most `length` bytes at `offset` into `out` and returns how many it read.
  std::uint64_t ReadUpTo(std::uint64_t offset, std::uint64_t length, void* out) const {
    auto* bytes = static_cast<char*>(out);
    std::uint64_t done = 0;
    while (done < length) {
      const ssize_t n = ::pread(fd_, bytes + done, static_cast<std::size_t>(length - done),
                                static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::uint64_t>(n);
    }
    return done;
  }

  template <class T>
  bool ReadArray(std::uint64_t offset, std::uint64_t count, std::vector<T>& out) const {
    if (count > size_ / sizeof(T)) return false;
    out.resize(static_cast<std::size_t>(count));
    return count == 0 || Read(offset, count * sizeof(T), out.data());
  }

 private:
  int fd_;
  std::uint64_t size_ = 0;
};

// What step 1 needs to know of a library's exports.
struct EntryExports {
  std::vector<unsigned long> majors;   // the N of every loupe_plugin_entry_vN defined in "loupe", sorted
  bool entry_outside_section = false;  // loupe_plugin_entry_v1 is defined, but not in "loupe"
};

// The N of `loupe_plugin_entry_vN`, or nothing for any other name.
std::optional<unsigned long> EntryMajor(std::string_view symbol) {
  if (symbol.size() <= kEntryPrefix.size() || symbol.substr(0, kEntryPrefix.size()) != kEntryPrefix) {
    return std::nullopt;
  }
  const std::string digits(symbol.substr(kEntryPrefix.size()));
  if (digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoul(digits);  // out_of_range for an absurd N: the caller calls the file damaged
}

// A NUL-terminated name at `offset` of a string table, or nothing when it runs past the table.
std::optional<std::string_view> TableString(const std::vector<char>& table, std::uint64_t offset) {
  if (offset >= table.size()) return std::nullopt;
  const char* begin = table.data() + offset;
  const void* end = std::memchr(begin, '\0', table.size() - static_cast<std::size_t>(offset));
  if (end == nullptr) return std::nullopt;
  return std::string_view(begin, static_cast<std::size_t>(static_cast<const char*>(end) - begin));
}

struct Elf32Types {
  using Ehdr = Elf32_Ehdr;
  using Shdr = Elf32_Shdr;
  using Sym = Elf32_Sym;
};
struct Elf64Types {
  using Ehdr = Elf64_Ehdr;
  using Shdr = Elf64_Shdr;
  using Sym = Elf64_Sym;
};

// The entry symbols among the defined, exported symbols of the dynamic symbol table (those with default
// visibility, global or weak binding and a size, as the loader would export them). Nothing when the file's
// headers are damaged or truncated.
template <class Elf>
std::optional<EntryExports> ReadEntryExports(const ElfFile& file, const unsigned char* start,
                                             std::uint64_t start_size) {
  typename Elf::Ehdr header{};
  if (start_size < sizeof header) return std::nullopt;
  std::memcpy(&header, start, sizeof header);
  EntryExports exports;
  if (header.e_shoff == 0) return exports;  // no section headers: nothing is known to be exported
  if (header.e_shentsize != sizeof(typename Elf::Shdr)) return std::nullopt;

  // Section 0 holds the real count and names index when they do not fit the header (e_shnum 0, SHN_XINDEX).
  typename Elf::Shdr first{};
  const bool extended = header.e_shnum == 0 || header.e_shstrndx == SHN_XINDEX;
  if (extended && !file.Read(header.e_shoff, sizeof first, &first)) return std::nullopt;
  const std::uint64_t count = header.e_shnum != 0 ? header.e_shnum : first.sh_size;
  const std::uint64_t names_index = header.e_shstrndx != SHN_XINDEX ? header.e_shstrndx : first.sh_link;
  std::vector<typename Elf::Shdr> sections;
  if (!file.ReadArray(header.e_shoff, count, sections)) return std::nullopt;
  if (names_index >= sections.size()) return std::nullopt;

  std::vector<char> names;
  const typename Elf::Shdr& names_section = sections[names_index];
  if (!file.ReadArray(names_section.sh_offset, names_section.sh_size, names)) return std::nullopt;
  std::optional<std::size_t> loupe_index;
  const typename Elf::Shdr* dynsym = nullptr;
  for (std::size_t i = 0; i < sections.size(); ++i) {
    const std::optional<std::string_view> name = TableString(names, sections[i].sh_name);
    if (!name) return std::nullopt;
    if (*name == LOUPE_PLUGIN_SECTION && !loupe_index) loupe_index = i;
    if (sections[i].sh_type == SHT_DYNSYM && dynsym == nullptr) dynsym = &sections[i];
  }
  if (dynsym == nullptr) return exports;  // a library without a dynamic symbol table exports nothing
  if (dynsym->sh_link >= sections.size()) return std::nullopt;

  std::vector<typename Elf::Sym> symbols;
  std::vector<char> strings;
  const typename Elf::Shdr& strings_section = sections[dynsym->sh_link];
  if (!file.ReadArray(dynsym->sh_offset, dynsym->sh_size / sizeof(typename Elf::Sym), symbols) ||
      !file.ReadArray(strings_section.sh_offset, strings_section.sh_size, strings)) {
    return std::nullopt;
  }
  for (const typename Elf::Sym& symbol : symbols) {
    const unsigned bind = symbol.st_info >> 4;
    const bool exported = (symbol.st_other & 0x3) == STV_DEFAULT && bind != STB_LOCAL &&
                          symbol.st_size != 0 && symbol.st_shndx != SHN_UNDEF;
    if (!exported) continue;
    const std::optional<std::string_view> name = TableString(strings, symbol.st_name);
    if (!name) return std::nullopt;
    const std::optional<unsigned long> major = EntryMajor(*name);
    if (!major) continue;
    if (loupe_index && symbol.st_shndx == *loupe_index) {
      exports.majors.push_back(*major);
    } else if (*name == LOUPE_PLUGIN_ENTRY_SYMBOL) {
      exports.entry_outside_section = true;
    }
  }
  std::sort(exports.majors.begin(), exports.majors.end());
  return exports;
}

std::string JoinMajors(const std::vector<unsigned long>& majors) {
  std::string text;
  for (std::size_t i = 0; i < majors.size(); ++i) {
    text += (i == 0 ? "v" : (i + 1 == majors.size() ? " and v" : ", v")) + std::to_string(majors[i]);
  }
  return text;
}

// Ok when the library exports the v1 entry from the "loupe" section.
Status InspectSymbols(const fs::path& path) {
  const ElfFile file(path);
  unsigned char start[sizeof(Elf64_Ehdr)] = {};  // the ELF header, whichever its class
  const std::uint64_t start_size = file.is_open() ? file.ReadUpTo(0, sizeof start, start) : 0;
  if (start_size < SELFMAG || std::memcmp(start, ELFMAG, SELFMAG) != 0) {
    return PluginError(Quoted(path) + " is not a shared library");
  }
  std::optional<EntryExports> exports;
  try {
    if (start_size > EI_CLASS && start[EI_CLASS] == ELFCLASS32) {
      exports = ReadEntryExports<Elf32Types>(file, start, start_size);
    } else if (start_size > EI_CLASS && start[EI_CLASS] == ELFCLASS64) {
      exports = ReadEntryExports<Elf64Types>(file, start, start_size);
    }
  } catch (const std::exception&) {  // std::stoul of an absurd N, or no memory for the tables
    exports.reset();
  }
  if (!exports) {
    return PluginError(Quoted(path) +
                       " is not a valid shared library: its ELF headers are damaged or truncated");
  }
  const std::vector<unsigned long>& majors = exports->majors;
  if (std::find(majors.begin(), majors.end(), kHostMajor) != majors.end()) return Status::Ok();
  if (!majors.empty()) {
    return PluginError(Quoted(path) + " was built for plugin ABI " + JoinMajors(majors) +
                       ", this host supports " + HostAbiRange());
  }
  if (exports->entry_outside_section) {
    // A plain function with the entry's name: reading it as the entry pointer would jump into garbage.
    return PluginError(Quoted(path) +
                       " exports " LOUPE_PLUGIN_ENTRY_SYMBOL
                       " outside the \"loupe\" section: define it with LOUPE_DEFINE_PLUGIN_ENTRY");
  }
  return PluginError(Quoted(path) + " is not a Loupe plugin: it exports no " LOUPE_PLUGIN_ENTRY_SYMBOL);
}

// ---------------------------------------------------------------------------------------------------
// Steps 2 and 3: load, resolve and call the entry.

// dlerror() starts with the path we already name; keep only the reason.
std::string LoaderReason(const fs::path& path) {
  const char* raw = dlerror();
  if (raw == nullptr) return "the dynamic loader gave no reason";
  std::string text = raw;
  const std::string prefix = path.string() + ": ";
  if (text.compare(0, prefix.size(), prefix) == 0) text.erase(0, prefix.size());
  return CleanReason(text);
}

Result<std::shared_ptr<dll::shared_library>> OpenLibrary(const fs::path& path) {
  auto library = std::make_shared<dll::shared_library>();
  std::error_code ec;
  try {
    // The error_code overload leaves dlerror() untouched, so the loader's own reason can be read below.
    library->load(path, dll::load_mode::rtld_now | dll::load_mode::rtld_local, ec);
  } catch (const std::exception& e) {
    return PluginError(Quoted(path) + " could not be loaded: " + CleanReason(e.what()));
  }
  if (ec || !library->is_loaded()) {
    return PluginError(Quoted(path) + " could not be loaded: " + LoaderReason(path));
  }
  return library;
}

Result<const LoupePluginInfo*> CallEntry(const dll::shared_library& library, const fs::path& path) {
  if (!library.has(LOUPE_PLUGIN_ENTRY_SYMBOL)) {
    return PluginError(Quoted(path) + " is not a Loupe plugin: it exports no " LOUPE_PLUGIN_ENTRY_SYMBOL);
  }
  char error[1024] = {};
  const LoupePluginInfo* info = nullptr;
  try {
    EntryFunction& entry = library.get_alias<EntryFunction>(LOUPE_PLUGIN_ENTRY_SYMBOL);
    info = entry(kHostMajor, kHostMinor, error, sizeof error);
  } catch (const std::exception& e) {
    return PluginError("the entry of " + Quoted(path) + " threw an exception: " + CleanReason(e.what()));
  } catch (...) {
    return PluginError("the entry of " + Quoted(path) + " threw an unknown exception");
  }
  if (info != nullptr) return info;
  error[sizeof error - 1] = '\0';  // a plugin that ignored the capacity still gives a terminated string
  const std::string reason = CleanReason(error);
  if (reason.empty()) return PluginError(Quoted(path) + " refused to load without giving a reason");
  return PluginError(Quoted(path) + " refused to load: " + reason);
}

// ---------------------------------------------------------------------------------------------------
// Step 4: validate what the entry returned and convert it to the host's types.

bool IsIdentifier(std::string_view part) {
  if (part.empty() || part.front() < 'a' || part.front() > 'z') return false;
  return std::all_of(part.begin(), part.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

// "plugin.explainer": two lowercase identifiers joined by one dot, as pipelines and the CLI spell them.
bool IsExplainerName(std::string_view name) {
  const std::size_t dot = name.find('.');
  return dot != std::string_view::npos && IsIdentifier(name.substr(0, dot)) &&
         IsIdentifier(name.substr(dot + 1));
}

bool IsSet(const char* text) { return text != nullptr && text[0] != '\0'; }

std::string NumberText(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// Builds the sentences of one plugin's validation errors, all of which start with the file.
class PluginValidator {
 public:
  PluginValidator(const fs::path& path, const LoupePluginInfo& info) : path_(path), info_(info) {}

  Status ValidateInfo() const;
  Result<std::vector<ExplainerDescriptor>> DescribeExplainers() const;

 private:
  Status Fail(const std::string& what) const { return PluginError(Quoted(path_) + " " + what); }
  Result<ExplainerDescriptor> DescribeExplainer(const LoupeExplainerVTable* vtable, std::int64_t index) const;
  Status ValidateFunctions(const LoupeExplainerVTable& vtable, const std::string& where) const;
  Result<ExplainerScope> ConvertScope(LoupeScope scope, const std::string& where) const;
  Result<std::vector<std::string>> ConvertCapabilities(const LoupeExplainerVTable& vtable,
                                                       const std::string& where) const;
  Result<std::vector<ParamSpec>> ConvertParams(const LoupeExplainerVTable& vtable,
                                               const std::string& explainer) const;
  Result<ParamSpec> ConvertParam(const LoupeParamSpec& spec, std::int64_t index,
                                 const std::string& explainer) const;
  // The checks of one parameter `out` of `explainer`. Their sentences name "parameter 'P' of explainer 'E'"
  // (ParamWhere), built only when a check fails: a plugin has dozens of parameters, and they pass.
  Status ConvertBounds(const LoupeParamSpec& spec, const std::string& explainer, ParamSpec& out) const;
  Status ConvertChoices(const LoupeParamSpec& spec, const std::string& explainer, ParamSpec& out) const;
  Status ConvertDefault(const LoupeParamSpec& spec, const std::string& explainer, ParamSpec& out) const;

  const fs::path& path_;
  const LoupePluginInfo& info_;
};

Status PluginValidator::ValidateInfo() const {
  if (info_.magic != LOUPE_PLUGIN_MAGIC) {
    std::ostringstream found;
    found << std::hex << std::uppercase << "0x" << info_.magic;
    return Fail("returned plugin info whose magic is " + found.str() +
                ", expected 0x474C504550554F4C (\"LOUPEPLG\")");
  }
  if (info_.abi_major != kHostMajor || info_.abi_minor > kHostMinor) {
    return Fail("was built for plugin ABI v" + std::to_string(info_.abi_major) + "." +
                std::to_string(info_.abi_minor) + ", this host supports " + HostAbiRange());
  }
  if (info_.struct_size < kMinPluginInfoSize) {
    return Fail("returned plugin info of " + std::to_string(info_.struct_size) +
                " bytes, expected at least " + std::to_string(kMinPluginInfoSize));
  }
  if (!IsSet(info_.name)) return Fail("returned plugin info without a name");
  if (!IsSet(info_.version)) return Fail("returned plugin info without a version");
  if (info_.n_explainers < 0) {
    return Fail("declares " + std::to_string(info_.n_explainers) + " explainers, expected 0 or more");
  }
  if (info_.n_explainers > 0 && info_.explainers == nullptr) {
    return Fail("declares " + std::to_string(info_.n_explainers) + " explainers but no explainer table");
  }
  return Status::Ok();
}

Result<std::vector<ExplainerDescriptor>> PluginValidator::DescribeExplainers() const {
  std::vector<ExplainerDescriptor> descriptors;
  std::set<std::string> names;
  for (std::int64_t i = 0; i < info_.n_explainers; ++i) {
    LOUPE_ASSIGN_OR_RETURN(ExplainerDescriptor descriptor, DescribeExplainer(info_.explainers[i], i));
    if (!names.insert(descriptor.name).second) {
      return Fail("defines explainer '" + descriptor.name + "' twice");
    }
    descriptors.push_back(std::move(descriptor));
  }
  return descriptors;
}

Result<ExplainerDescriptor> PluginValidator::DescribeExplainer(const LoupeExplainerVTable* vtable,
                                                               std::int64_t index) const {
  const std::string ordinal = "explainer #" + std::to_string(index);
  if (vtable == nullptr) return Fail("lists a null vtable as " + ordinal);
  if (vtable->struct_size < kMinVTableSize) {
    return Fail("gives " + ordinal + " a vtable of " + std::to_string(vtable->struct_size) +
                " bytes, expected at least " + std::to_string(kMinVTableSize));
  }
  if (!IsSet(vtable->name)) return Fail("gives " + ordinal + " no name");
  const std::string name = vtable->name;
  if (!IsExplainerName(name)) {
    return Fail("names " + ordinal + " '" + name +
                "', expected \"plugin.explainer\" (lowercase letters, digits and '_', one dot)");
  }
  const std::string where = "explainer '" + name + "'";
  if (!IsSet(vtable->summary)) return Fail("defines " + where + " without a summary");
  if (!IsSet(vtable->output_kind)) return Fail("defines " + where + " without an output kind");
  LOUPE_RETURN_IF_ERROR(ValidateFunctions(*vtable, where));

  ExplainerDescriptor descriptor;
  descriptor.name = name;
  descriptor.summary = vtable->summary;
  descriptor.output_kind = vtable->output_kind;
  LOUPE_ASSIGN_OR_RETURN(descriptor.scope, ConvertScope(vtable->scope, where));
  LOUPE_ASSIGN_OR_RETURN(descriptor.required_capabilities, ConvertCapabilities(*vtable, where));
  LOUPE_ASSIGN_OR_RETURN(descriptor.params, ConvertParams(*vtable, name));
  descriptor.plugin_name = info_.name;
  descriptor.plugin_version = info_.version;
  descriptor.plugin_path = path_.string();
  return descriptor;
}

Status PluginValidator::ValidateFunctions(const LoupeExplainerVTable& vtable,
                                          const std::string& where) const {
  if (vtable.create == nullptr) return Fail("defines " + where + " without a create function");
  if (vtable.explain == nullptr) return Fail("defines " + where + " without an explain function");
  if (vtable.destroy == nullptr) return Fail("defines " + where + " without a destroy function");
  return Status::Ok();
}

Result<ExplainerScope> PluginValidator::ConvertScope(LoupeScope scope, const std::string& where) const {
  if (scope == LOUPE_SCOPE_LOCAL) return ExplainerScope::kLocal;
  if (scope == LOUPE_SCOPE_GLOBAL) return ExplainerScope::kGlobal;
  return Fail("defines " + where + " with scope " + std::to_string(scope) +
              ", expected 1 (LOUPE_SCOPE_LOCAL) or 2 (LOUPE_SCOPE_GLOBAL)");
}

Result<std::vector<std::string>> PluginValidator::ConvertCapabilities(const LoupeExplainerVTable& vtable,
                                                                      const std::string& where) const {
  const std::int64_t n = vtable.n_required_capabilities;
  if (n < 0 || (n > 0 && vtable.required_capabilities == nullptr)) {
    return Fail("defines " + where + " with " + std::to_string(n) +
                " required capabilities but no capability table");
  }
  std::vector<std::string> capabilities;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!IsSet(vtable.required_capabilities[i])) {
      return Fail("defines " + where + " with an empty required capability #" + std::to_string(i));
    }
    capabilities.emplace_back(vtable.required_capabilities[i]);
  }
  return capabilities;
}

Result<std::vector<ParamSpec>> PluginValidator::ConvertParams(const LoupeExplainerVTable& vtable,
                                                              const std::string& explainer) const {
  const std::int64_t n = vtable.n_params;
  if (n < 0 || (n > 0 && vtable.params == nullptr)) {
    return Fail("defines explainer '" + explainer + "' with " + std::to_string(n) +
                " parameters but no parameter table");
  }
  std::vector<ParamSpec> params;
  std::set<std::string> names;
  for (std::int64_t i = 0; i < n; ++i) {
    // The table's stride is the plugin's sizeof(LoupeParamSpec), its first spec's struct_size: a plugin
    // built for an older minor has shorter specs than this host's (v1.2 appended `role`).
    // (ConvertParam refuses a first spec shorter than v1.0's before the stride is used.)
    const std::uint32_t stride = vtable.params[0].struct_size;
    if (i > 0 && stride % alignof(LoupeParamSpec) != 0) {
      return Fail("defines explainer '" + explainer + "' with parameter specs of " + std::to_string(stride) +
                  " bytes, which is not a multiple of " + std::to_string(alignof(LoupeParamSpec)));
    }
    const auto* spec = reinterpret_cast<const LoupeParamSpec*>(reinterpret_cast<const char*>(vtable.params) +
                                                               static_cast<std::size_t>(i) * stride);
    LOUPE_ASSIGN_OR_RETURN(ParamSpec param, ConvertParam(*spec, i, explainer));
    if (!names.insert(param.name).second) {
      return Fail("defines parameter '" + param.name + "' of explainer '" + explainer + "' twice");
    }
    params.push_back(std::move(param));
  }
  return params;
}

std::optional<ParamType> ConvertParamType(LoupeParamType type) {
  switch (type) {
    case LOUPE_PARAM_BOOL:
      return ParamType::kBool;
    case LOUPE_PARAM_INT:
      return ParamType::kInt;
    case LOUPE_PARAM_FLOAT:
      return ParamType::kFloat;
    case LOUPE_PARAM_STRING:
      return ParamType::kString;
    case LOUPE_PARAM_ENUM:
      return ParamType::kEnum;
    case LOUPE_PARAM_ROWS:
      return ParamType::kRows;
    case LOUPE_PARAM_JSON:
      return ParamType::kJson;
    case LOUPE_PARAM_STRING_LIST:
      return ParamType::kStringList;
    default:
      return std::nullopt;
  }
}

// "parameter 'P' of explainer 'E'", the subject of a parameter's sentences.
std::string ParamWhere(const std::string& param, const std::string& explainer) {
  return "parameter '" + param + "' of explainer '" + explainer + "'";
}

Result<ParamSpec> PluginValidator::ConvertParam(const LoupeParamSpec& spec, std::int64_t index,
                                                const std::string& explainer) const {
  const auto ordinal = [&] {
    return "parameter #" + std::to_string(index) + " of explainer '" + explainer + "'";
  };
  if (spec.struct_size < kMinParamSpecSize) {
    return Fail("gives " + ordinal() + " a spec of " + std::to_string(spec.struct_size) +
                " bytes, expected at least " + std::to_string(kMinParamSpecSize));
  }
  if (!IsSet(spec.name)) return Fail("gives " + ordinal() + " no name");
  ParamSpec out;
  out.name = spec.name;
  const std::optional<ParamType> type = ConvertParamType(spec.type);
  if (!type) {
    return Fail("defines " + ParamWhere(out.name, explainer) + " with type " + std::to_string(spec.type) +
                ", expected 1 to 8 (LOUPE_PARAM_*)");
  }
  out.type = *type;
  out.doc = spec.doc != nullptr ? spec.doc : "";
  out.required = spec.required != 0;
  LOUPE_RETURN_IF_ERROR(ConvertBounds(spec, explainer, out));
  LOUPE_RETURN_IF_ERROR(ConvertChoices(spec, explainer, out));
  LOUPE_RETURN_IF_ERROR(ConvertDefault(spec, explainer, out));
  // v1.2 appended `role`: a plugin built for an older minor has a shorter spec and no roles.
  if (spec.struct_size >= offsetof(LoupeParamSpec, role) + sizeof(spec.role)) {
    if (spec.role < LOUPE_PARAM_ROLE_NONE || spec.role > LOUPE_PARAM_ROLE_GROUPS) {
      return Fail("defines " + ParamWhere(out.name, explainer) + " with role " + std::to_string(spec.role) +
                  ", expected 0 to 4 (LOUPE_PARAM_ROLE_*)");
    }
    out.role = static_cast<ParamRole>(spec.role);
  }
  return out;
}

Status PluginValidator::ConvertBounds(const LoupeParamSpec& spec, const std::string& explainer,
                                      ParamSpec& out) const {
  if (!spec.has_min && !spec.has_max) return Status::Ok();
  if (out.type != ParamType::kInt && out.type != ParamType::kFloat) {
    return Fail("gives bounds to " + std::string(ParamTypeName(out.type)) + " " +
                ParamWhere(out.name, explainer) + ", but only int and float parameters have bounds");
  }
  if ((spec.has_min && std::isnan(spec.min_value)) || (spec.has_max && std::isnan(spec.max_value))) {
    return Fail("gives " + ParamWhere(out.name, explainer) + " a NaN bound");
  }
  if (spec.has_min) out.min_value = spec.min_value;
  if (spec.has_max) out.max_value = spec.max_value;
  if (out.min_value && out.max_value && *out.min_value > *out.max_value) {
    return Fail("gives " + ParamWhere(out.name, explainer) + " a minimum of " + NumberText(*out.min_value) +
                " above its maximum of " + NumberText(*out.max_value));
  }
  return Status::Ok();
}

Status PluginValidator::ConvertChoices(const LoupeParamSpec& spec, const std::string& explainer,
                                       ParamSpec& out) const {
  if (out.type != ParamType::kEnum) return Status::Ok();
  if (spec.n_choices <= 0 || spec.choices == nullptr) {
    return Fail("defines enum " + ParamWhere(out.name, explainer) + " without choices");
  }
  for (std::int64_t i = 0; i < spec.n_choices; ++i) {
    if (!IsSet(spec.choices[i])) {
      return Fail("defines enum " + ParamWhere(out.name, explainer) + " with an empty choice #" +
                  std::to_string(i));
    }
    if (std::find(out.choices.begin(), out.choices.end(), spec.choices[i]) != out.choices.end()) {
      return Fail("defines enum " + ParamWhere(out.name, explainer) + " with choice '" + spec.choices[i] +
                  "' twice");
    }
    out.choices.emplace_back(spec.choices[i]);
  }
  return Status::Ok();
}

Status PluginValidator::ConvertDefault(const LoupeParamSpec& spec, const std::string& explainer,
                                       ParamSpec& out) const {
  if (spec.default_json == nullptr) return Status::Ok();
  if (out.required) {
    return Fail("marks " + ParamWhere(out.name, explainer) + " as required but also gives it a default");
  }
  nlohmann::json value = nlohmann::json::parse(spec.default_json, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return Fail("gives " + ParamWhere(out.name, explainer) + " the default '" +
                std::string(spec.default_json) + "', which is not valid JSON");
  }
  // A default must pass the same check a pipeline's value would, or a step that omits it fails.
  const Status check = CheckParamValue(out, value);
  if (!check.ok()) {
    return Fail("gives " + ParamWhere(out.name, explainer) +
                " a default that its own spec rejects: " + check.message());
  }
  out.default_value = std::move(value);
  return Status::Ok();
}

PluginSummary Summarize(const fs::path& path, const LoupePluginInfo& info,
                        const std::vector<ExplainerDescriptor>& descriptors) {
  PluginSummary summary;
  summary.name = info.name;
  summary.version = info.version;
  summary.description = info.description != nullptr ? info.description : "";
  summary.path = path.string();
  summary.abi_major = info.abi_major;
  summary.abi_minor = info.abi_minor;
  for (const ExplainerDescriptor& descriptor : descriptors) summary.explainers.push_back(descriptor.name);
  std::sort(summary.explainers.begin(), summary.explainers.end());
  return summary;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// PluginRegistry

Status PluginRegistry::Load(const fs::path& library) {
  LOUPE_ASSIGN_OR_RETURN(const fs::path path, ResolvePluginFile(library));
  for (const PluginSummary& plugin : plugins_) {
    if (plugin.path == path.string()) return PluginError(Quoted(path) + " is already loaded");
  }
  LOUPE_RETURN_IF_ERROR(InspectSymbols(path));
  LOUPE_ASSIGN_OR_RETURN(std::shared_ptr<dll::shared_library> handle, OpenLibrary(path));
  LOUPE_ASSIGN_OR_RETURN(const LoupePluginInfo* info, CallEntry(*handle, path));
  const PluginValidator validator(path, *info);
  LOUPE_RETURN_IF_ERROR(validator.ValidateInfo());
  LOUPE_ASSIGN_OR_RETURN(std::vector<ExplainerDescriptor> descriptors, validator.DescribeExplainers());
  for (const ExplainerDescriptor& descriptor : descriptors) {
    if (auto it = explainers_.find(descriptor.name); it != explainers_.end()) {
      return PluginError(Quoted(path) + " defines explainer '" + descriptor.name + "', which '" +
                         it->second->descriptor().plugin_path + "' already defines");
    }
  }
  // Nothing of the plugin is registered before everything about it has been checked.
  plugins_.push_back(Summarize(path, *info, descriptors));
  const std::shared_ptr<const void> owner = std::move(handle);
  for (std::size_t i = 0; i < descriptors.size(); ++i) {
    std::string name = descriptors[i].name;
    // Every explainer shares ownership of the library, so it stays loaded while any of them lives.
    explainers_.emplace(std::move(name), std::make_shared<const LoadedExplainer>(std::move(descriptors[i]),
                                                                                 info->explainers[i], owner));
  }
  return Status::Ok();
}

std::vector<Status> PluginRegistry::LoadDirectory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {PluginError("plugin folder " + Quoted(dir) + " does not exist")};
  std::vector<fs::path> libraries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->path().extension() == ".so" && it->is_regular_file(type_ec)) libraries.push_back(it->path());
  }
  if (ec) return {PluginError("plugin folder " + Quoted(dir) + " could not be listed: " + ec.message())};
  std::sort(libraries.begin(), libraries.end());
  std::vector<Status> failures;
  for (const fs::path& library : libraries) {
    Status status = Load(library);
    if (!status.ok()) failures.push_back(std::move(status));
  }
  return failures;
}

const LoadedExplainer* PluginRegistry::Find(const std::string& name) const {
  auto it = explainers_.find(name);
  return it == explainers_.end() ? nullptr : it->second.get();
}

std::shared_ptr<const LoadedExplainer> PluginRegistry::FindShared(const std::string& name) const {
  auto it = explainers_.find(name);
  return it == explainers_.end() ? nullptr : it->second;
}

std::vector<const LoadedExplainer*> PluginRegistry::Explainers() const {
  std::vector<const LoadedExplainer*> explainers;
  explainers.reserve(explainers_.size());
  for (const auto& [name, explainer] : explainers_) explainers.push_back(explainer.get());
  return explainers;  // std::map keeps them sorted by name
}

std::string PluginRegistry::Suggest(const std::string& name) const {
  constexpr std::size_t kMaxDistance = 3;
  std::string best;
  std::size_t best_distance = kMaxDistance + 1;
  for (const auto& [candidate, explainer] : explainers_) {
    // The same distance as every other "did you mean" (case-insensitive, an adjacent swap is one edit).
    const std::size_t distance = sdk::detail::EditDistance(name, candidate);
    if (distance < best_distance) {  // strict: ties keep the alphabetically first name
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------------
// Search path

std::vector<fs::path> PluginSearchPath(const std::vector<fs::path>& extra) {
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path program = dll::program_location(ec);
  if (!ec) {
    const fs::path built_in = program.parent_path() / ".." / "lib" / "loupe" / "plugins";
    if (fs::is_directory(built_in, ec)) candidates.push_back(built_in);
  }
  if (const char* env = std::getenv("LOUPE_PLUGIN_PATH"); env != nullptr) {
    std::istringstream entries(env);
    for (std::string entry; std::getline(entries, entry, ':');) {
      if (!entry.empty()) candidates.emplace_back(entry);
    }
  }
  candidates.insert(candidates.end(), extra.begin(), extra.end());

  std::vector<fs::path> path;
  for (const fs::path& candidate : candidates) {
    std::error_code absolute_ec;
    fs::path normal = fs::absolute(candidate, absolute_ec).lexically_normal();
    if (absolute_ec) normal = candidate.lexically_normal();
    if (!normal.has_filename() && normal.has_parent_path()) normal = normal.parent_path();  // "a/b/" is "a/b"
    if (std::find(path.begin(), path.end(), normal) == path.end()) path.push_back(std::move(normal));
  }
  return path;
}

}  // namespace loupe
