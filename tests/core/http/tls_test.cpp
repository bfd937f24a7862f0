// TLS (docs/serve.md "TLS"): the HTTP server with a certificate and the client over https, with a
// self-signed certificate made here by OpenSSL for localhost (no key is committed). The client trusts it
// only through ClientOptions::ca_file; without it, or for another name, the handshake is refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>

#include "http/client.hpp"
#include "http/server.hpp"
#include "model/remote_model.hpp"

#if LOUPE_TEST_TLS
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#endif

namespace loupe::http {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

TEST(Tls, VersionAgreesWithTheBuild) { EXPECT_EQ(TlsAvailable(), LOUPE_TEST_TLS != 0); }

#if LOUPE_TEST_TLS

// A P-256 key and a one-day self-signed certificate for localhost, as PEM files in `dir`.
void MakeCertificate(const fs::path& dir) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"),
                             -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost"},
                                   std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    ASSERT_NE(extension, nullptr);
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
  }
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  FILE* cert_file = std::fopen((dir / "cert.pem").c_str(), "w");
  PEM_write_X509(cert_file, cert);
  std::fclose(cert_file);
  FILE* key_file = std::fopen((dir / "key.pem").c_str(), "w");
  PEM_write_PrivateKey(key_file, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(key_file);
  X509_free(cert);
  EVP_PKEY_free(key);
}

class Echo : public Handler {
 public:
  Response Handle(const Request& request, const std::atomic<bool>*) override {
    Response response;
    response.body = request.method + " " + request.target + " " + request.body;
    return response;
  }
  bool IsSlow(const Request&) const override { return false; }
  void Answered(const Request&, const std::string&, int, double, std::size_t) override {}
  void SlowWorkChanged(int, int) override {}
  void ShutdownStarted() override {}
};

class TlsServer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("loupe_tls_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    MakeCertificate(dir_);
    ServerOptions options;
    options.tls_cert_file = (dir_ / "cert.pem").string();
    options.tls_key_file = (dir_ / "key.pem").string();
    server_ = Server::Start(options, echo_).value();
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::milliseconds(0));
    fs::remove_all(dir_);
  }
  Result<Response> Call(const std::string& host, const std::string& ca_file) {
    ClientOptions options;
    options.ca_file = ca_file;
    options.timeout_ms = 5000;
    LOUPE_ASSIGN_OR_RETURN(const Url url, Url::Parse("https://" + host + ":" +
                                                     std::to_string(server_->port()) + "/v2/models/x"));
    LOUPE_ASSIGN_OR_RETURN(auto client, Client::Create(url, options));
    return client->Send("POST", "/echo", "hello");
  }

  fs::path dir_;
  Echo echo_;
  std::unique_ptr<Server> server_;
};

TEST_F(TlsServer, AnswersAClientThatTrustsItsCertificate) {
  auto response = Call("localhost", (dir_ / "cert.pem").string());
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST /echo hello");
}

TEST_F(TlsServer, AClientThatDoesNotTrustItRefusesTheHandshake) {
  auto untrusted = Call("localhost", "");
  ASSERT_FALSE(untrusted.ok());
  EXPECT_THAT(untrusted.status().message(), HasSubstr("the TLS handshake with localhost:"));
  // Trusted, but the certificate names localhost, not 127.0.0.1.
  auto wrong_name = Call("127.0.0.1", (dir_ / "cert.pem").string());
  ASSERT_FALSE(wrong_name.ok());
  EXPECT_THAT(wrong_name.status().message(), HasSubstr("the TLS handshake with 127.0.0.1:"));
}

TEST_F(TlsServer, APlainClientGetsNoAnswer) {
  const Url url = Url::Parse("http://127.0.0.1:" + std::to_string(server_->port())).value();
  ClientOptions options;
  options.timeout_ms = 2000;
  auto response = Client::Create(url, options).value()->Send("GET", "/", "");
  EXPECT_FALSE(response.ok() && response->status == 200);
}

TEST(TlsConfig, AMissingCertificateIsRefusedWithASentence) {
  Echo echo;
  ServerOptions options;
  options.tls_cert_file = "/nonexistent/cert.pem";
  options.tls_key_file = "/nonexistent/key.pem";
  auto server = Server::Start(options, echo);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(),
              HasSubstr("cannot read the TLS certificate '/nonexistent/cert.pem'"));
}

#else

TEST(Tls, HttpsIsRefusedWithASentenceWithoutIt) {
  EXPECT_THAT(Url::Parse("https://localhost:1/v2/models/x").status().message(), HasSubstr("no TLS support"));
}

#endif

}  // namespace
}  // namespace loupe::http
