// The MPI module (lib/loupe/modules/loupe_mpi.so): the only code of Loupe that includes mpi.h, behind the
// table of mpi/mpi_module.hpp, which core's mpi/world.cpp loads only when a launcher started the process
// (docs/architecture.md §1, "Modules loaded on first use"). It uses MPI's C API alone, in MPI_COMM_WORLD.
#include <mpi.h>

#include <new>

#include "mpi/mpi_module.hpp"

namespace loupe::mpi {
namespace {

int ToMpiSource(int from) { return from == kAnyRank ? MPI_ANY_SOURCE : from; }
int ToMpiTag(int tag) { return tag == kAnyTag ? MPI_ANY_TAG : tag; }

void LibraryVersion(std::string* text) {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(version, &length);
  text->assign(version, static_cast<std::size_t>(length));
}

void ErrorText(int code, std::string* text) {
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, message, &length) != MPI_SUCCESS) {
    *text = "MPI error code " + std::to_string(code);
    return;
  }
  text->assign(message, static_cast<std::size_t>(length));
}

int Start(int* argc, char*** argv, int* rank, int* size) {
  int provided = 0;
  if (const int code = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided); code != MPI_SUCCESS)
    return code;
  // Errors come back as codes that become sentences, instead of aborting the job mid-message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, size);
  return 0;
}

void Finish() { MPI_Finalize(); }

int Send(const void* bytes, int count, int to, int tag) {
  return MPI_Send(bytes, count, MPI_BYTE, to, tag, MPI_COMM_WORLD);
}

int Receive(void* bytes, int count, int from, int tag) {
  return MPI_Recv(bytes, count, MPI_BYTE, from, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

int Broadcast(void* bytes, int count, int root) {
  return MPI_Bcast(bytes, count, MPI_BYTE, root, MPI_COMM_WORLD);
}

int StartSend(const void* bytes, int count, int to, int tag, Request* request) {
  auto* handle = new (std::nothrow) MPI_Request(MPI_REQUEST_NULL);
  if (handle == nullptr) return MPI_ERR_NO_MEM;
  const int code = MPI_Isend(bytes, count, MPI_BYTE, to, tag, MPI_COMM_WORLD, handle);
  if (code != MPI_SUCCESS) {
    delete handle;
    *request = nullptr;
    return code;
  }
  *request = handle;
  return MPI_SUCCESS;
}

int Test(Request* request, int* done) {
  *done = 1;
  if (*request == nullptr) return MPI_SUCCESS;
  auto* handle = static_cast<MPI_Request*>(*request);
  *done = 0;
  const int code = MPI_Test(handle, done, MPI_STATUS_IGNORE);
  if (code == MPI_SUCCESS && *done != 0) {
    delete handle;
    *request = nullptr;
  }
  return code;
}

int Describe(const MPI_Status& status, Probed* probed) {
  probed->from = status.MPI_SOURCE;
  probed->tag = status.MPI_TAG;
  return MPI_Get_count(&status, MPI_BYTE, &probed->bytes);
}

int TryProbe(int from, int tag, int* arrived, Probed* probed) {
  MPI_Status status;
  const int code = MPI_Iprobe(ToMpiSource(from), ToMpiTag(tag), MPI_COMM_WORLD, arrived, &status);
  if (code != MPI_SUCCESS || *arrived == 0) return code;
  return Describe(status, probed);
}

int Probe(int from, int tag, Probed* probed) {
  MPI_Status status;
  const int code = MPI_Probe(ToMpiSource(from), ToMpiTag(tag), MPI_COMM_WORLD, &status);
  if (code != MPI_SUCCESS) return code;
  return Describe(status, probed);
}

static_assert(MPI_SUCCESS == 0, "the module's table says 0 for success");

constexpr MpiModule kModule{
    .loupe_version = LOUPE_VERSION,
    .probed_size = sizeof(Probed),
    .string_size = sizeof(std::string),
    .library_version = &LibraryVersion,
    .error_text = &ErrorText,
    .start = &Start,
    .finish = &Finish,
    .send = &Send,
    .receive = &Receive,
    .broadcast = &Broadcast,
    .start_send = &StartSend,
    .test = &Test,
    .try_probe = &TryProbe,
    .probe = &Probe,
};

}  // namespace
}  // namespace loupe::mpi

extern "C" __attribute__((visibility("default"))) const loupe::mpi::MpiModule* loupe_mpi_module() {
  return &loupe::mpi::kModule;
}
