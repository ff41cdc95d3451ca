# outpost top-level Makefile.
#
# This Makefile drives CMake (with Ninja) underneath. Why not plain make: CMake's
# pkg-config imported targets turn the include paths of DPDK, sofia-sip and libnl into
# -isystem, which is what lets us build with -Wall -Wextra -Werror (those headers warn);
# Ninja tracks header dependencies exactly, so incremental builds are right and fast;
# and the same CMake install rules feed `make deb` (debhelper's cmake build system).
# A full rebuild on 2 cores takes a few minutes.

BUILD    ?= build
JOBS     ?= $(shell nproc)
CMAKE    ?= cmake
PYTHON   ?= /usr/bin/python3
APT_ENV  := DEBIAN_FRONTEND=noninteractive

# Debian packages, by purpose. `make deps` installs only what is missing.
DEPS_BUILD := build-essential cmake ninja-build pkg-config libboost-dev libyaml-cpp-dev \
	nlohmann-json3-dev libcli11-dev catch2 libsystemd-dev libssl-dev libunbound-dev \
	libevent-dev nettle-dev libsofia-sip-ua-dev libnl-3-dev libnl-route-3-dev libdpdk-dev liburing-dev
DEPS_TEST  := python3 python3-pytest man-db groff-base iproute2 nftables procps psmisc jq curl openssl \
	bind9-dnsutils nsd unbound kamailio sip-tester nginx-light systemd python3-websockets \
	wireguard-go wireguard-tools iputils-ping chromium libnss3-tools kamailio-websocket-modules \
	kamailio-tls-modules
DEPS_PKG   := debhelper dpkg-dev fakeroot lintian
DEPS_BENCH := dnsperf wrk haproxy frr rtpengine-daemon
DEPS       := $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_PKG) $(DEPS_BENCH)

.PHONY: all deps configure test unit integration demo bench deb clean

all: configure
	$(CMAKE) --build $(BUILD) -j $(JOBS)

configure: $(BUILD)/build.ninja

$(BUILD)/build.ninja: CMakeLists.txt
	$(CMAKE) -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

deps:
	@missing=$$(for p in $(DEPS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing" $$missing; \
		$(APT_ENV) apt-get update -qq && \
		$(APT_ENV) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# Debian's packaged daemons must not run on their own: the lab starts its own copies.
	@for s in nsd unbound kamailio nginx haproxy frr rtpengine-daemon; do \
		systemctl is-active -q $$s 2>/dev/null && systemctl disable --now -q $$s 2>/dev/null; true; \
	done

test: deps all
	@$(PYTHON) tests/run.py --build $(BUILD)

unit: all
	@$(PYTHON) tests/run.py --build $(BUILD) --only unit

integration: deps all
	@$(PYTHON) tests/run.py --build $(BUILD) --only integration

demo: deps all
	@$(PYTHON) tests/lab/demo.py --build $(BUILD)

bench: deps all
	@for b in bench/*.sh; do [ -x "$$b" ] && BUILD=$(BUILD) "$$b"; done; true

deb: deps
	@pkg/build-deb.sh

clean:
	rm -rf $(BUILD) pkg/out tests/results
