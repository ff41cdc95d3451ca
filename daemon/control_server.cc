#include "daemon/control_server.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <istream>

namespace outpost {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {
constexpr size_t kMaxRequestBytes = 1 << 20;
}

// One client connection: read a line, dispatch, write the reply, repeat. The session
// keeps itself alive through its pending operations; a reply arriving after the
// server closed is dropped.
class ControlServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(local::socket socket, ControlServer& server)
      : socket_(std::move(socket)), server_(server), alive_(server.alive_), buffer_(kMaxRequestBytes) {}

  void read() {
    asio::async_read_until(socket_, buffer_, '\n',
                           [self = shared_from_this()](boost::system::error_code ec, size_t n) { self->on_line(ec, n); });
  }

 private:
  void on_line(boost::system::error_code ec, size_t n) {
    if (!*alive_) return;
    if (ec) {
      if (ec == asio::error::not_found) {  // line longer than the limit
        server_.bad_requests_.inc();
        write(ControlReply::usage("request too large").to_json().dump() + "\n", /*then_close=*/true);
      }
      return;
    }
    std::string line(asio::buffers_begin(buffer_.data()), asio::buffers_begin(buffer_.data()) + static_cast<long>(n));
    buffer_.consume(n);
    server_.requests_.inc();
    auto self = shared_from_this();
    server_.registry_.dispatch_line(line, [self](ControlReply reply) {
      if (!*self->alive_) return;
      if (!reply.ok && reply.code == 2) self->server_.bad_requests_.inc();
      self->write(reply.to_json().dump() + "\n", false);
    });
  }

  void write(std::string text, bool then_close) {
    auto out = std::make_shared<std::string>(std::move(text));
    asio::async_write(socket_, asio::buffer(*out),
                      [self = shared_from_this(), out, then_close](boost::system::error_code ec, size_t) {
                        if (ec || then_close || !*self->alive_) return;
                        self->read();
                      });
  }

  local::socket socket_;
  ControlServer& server_;
  std::shared_ptr<bool> alive_;
  asio::streambuf buffer_;
};

ControlServer::ControlServer(asio::io_context& io, ControlRegistry& registry, MetricsRegistry& metrics, Logger log)
    : io_(io),
      registry_(registry),
      log_(std::move(log)),
      requests_(metrics.counter("outpost_control_requests_total", "Requests received on the control socket")),
      bad_requests_(metrics.counter("outpost_control_bad_requests_total",
                                    "Control requests refused as malformed or unknown")) {}

ControlServer::~ControlServer() { close(); }

Result<void> ControlServer::open(const std::string& path, const std::string& group) {
  namespace fs = std::filesystem;
  std::error_code fec;
  fs::create_directories(fs::path(path).parent_path(), fec);
  // A socket file left by a crashed daemon is removed; a live one means we are a second copy.
  if (fs::exists(path, fec)) {
    local::socket probe(io_);
    boost::system::error_code ec;
    probe.connect(local::endpoint(path), ec);
    if (!ec) return make_error("another outpostd is answering on " + path);
    fs::remove(path, fec);
  }
  auto acceptor = std::make_unique<local::acceptor>(io_);
  boost::system::error_code ec;
  acceptor->open(local(), ec);
  if (!ec) acceptor->bind(local::endpoint(path), ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error("cannot listen on " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0660);
  if (!group.empty()) {
    if (struct group* g = ::getgrnam(group.c_str()); g != nullptr) {
      if (::chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0)
        log_.warn("cannot give ", path, " to group ", group, ": ", std::strerror(errno));
    } else {
      log_.info("group '", group, "' does not exist: ", path, " is usable by root only");
    }
  }
  acceptor_ = std::move(acceptor);
  path_ = path;
  accept();
  return {};
}

void ControlServer::close() {
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  if (acceptor_) {
    boost::system::error_code ec;
    acceptor_->close(ec);
    acceptor_.reset();
    std::error_code fec;
    std::filesystem::remove(path_, fec);
  }
}

void ControlServer::accept() {
  acceptor_->async_accept([this, alive = alive_](boost::system::error_code ec, local::socket socket) {
    if (!*alive) return;
    if (!ec) std::make_shared<Session>(std::move(socket), *this)->read();
    if (acceptor_ && acceptor_->is_open()) accept();
  });
}

}  // namespace outpost
