# civisync — build, test, demo and install.
PREFIX    ?= /usr/local
DESTDIR   ?=
SANITIZER ?=

# The one dependency table. MODULE:PACKAGE = a pkg-config module and the Debian package that
# ships its .pc file; TOOL:PACKAGE = a program the build, tests, demo, fault suite or benchmark
# runs (an absolute path is checked as is). `make deps` installs every PACKAGE and then checks
# every MODULE and TOOL (check-deps); the build checks the modules it compiles against.
# `make deps-build` installs and checks only what building the programs needs (the image).
PKG_MODULES      := rdkafka:librdkafka-dev libmariadb:libmariadb-dev jansson:libjansson-dev \
                    libconfig:libconfig-dev
TEST_PKG_MODULES := check:check
BUILD_TOOLS      := make:make cc:build-essential ar:build-essential pkg-config:pkg-config
TEST_TOOLS       := git:git mariadbd:mariadb-server mariadb-install-db:mariadb-server \
                    mariadb:mariadb-client mariadb-admin:mariadb-client \
                    mariadb-dump:mariadb-client docker-compose:docker-compose \
                    /usr/bin/time:time pgrep:procps timeout:coreutils
table_first = $(foreach e,$(1),$(firstword $(subst :, ,$(e))))
table_last  = $(foreach e,$(1),$(lastword $(subst :, ,$(e))))
PKGS         := $(call table_first,$(PKG_MODULES))
DEB_PACKAGES := $(sort $(call table_last,$(PKG_MODULES) $(TEST_PKG_MODULES) $(BUILD_TOOLS) $(TEST_TOOLS)))
BUILD_DEB_PACKAGES := $(sort $(call table_last,$(PKG_MODULES) $(BUILD_TOOLS)))

CC        ?= cc
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2 -MMD -MP -Ishared
# Hardening: stack canaries always; _FORTIFY_SOURCE needs an optimising build (-O1 and up,
# -Og, -Os) and is left to the sanitizer in SANITIZER builds, whose checks it would pre-empt.
CFLAGS    += -fstack-protector-strong
ifeq ($(SANITIZER),)
ifneq ($(filter-out -O0,$(filter -O%,$(CFLAGS))),)
CFLAGS    += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
endif
endif
ifeq ($(CI),true)
WERROR    ?= 1
endif
ifeq ($(WERROR),1)
CFLAGS    += -Werror
endif
ifneq ($(SANITIZER),)
CFLAGS    += -fsanitize=$(SANITIZER) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=$(SANITIZER)
endif
# Errors are reported by pkgcheck (below), which runs before anything is compiled.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)
CFLAGS    += $(PKG_CFLAGS)
LDLIBS    += $(PKG_LIBS) -lm -lpthread

BUILD     := build$(if $(SANITIZER),-$(SANITIZER))
LIB       := $(BUILD)/libcivisync.a
LIB_SRC   := $(wildcard shared/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)

PROGRAMS  := bin/civisync-produce bin/civisync-consume bin/civisync-broker \
             bin/civisync-topics bin/civisync-verify bin/civisync-restore
produce_SRC := $(wildcard producer/*.c)
consume_SRC := $(wildcard consumer/*.c)
broker_SRC  := topics/broker.c
topics_SRC  := $(filter-out topics/broker.c,$(wildcard topics/*.c))
verify_SRC  := $(wildcard consumer/verify/*.c)
restore_SRC := $(wildcard consumer/restore/*.c)
# Everything but main.o of the consumer and the producer goes into an archive, which the
# program and the unit tests (tests/unit/test_*_internals.c) link: internals testable alone.
CONSUME_LIB := $(BUILD)/libconsume.a
PRODUCE_LIB := $(BUILD)/libproduce.a

UNIT_SRC  := $(wildcard tests/unit/*.c)
INTEG_SRC := $(wildcard tests/integration/*.c) tests/unit/jsonschema.c tests/lib/oracle.c
TEST_BINS := $(BUILD)/tests/unit_tests $(BUILD)/tests/integration_tests

# civisync-broker (the embedded test broker) is built for the tests and demo, never installed.
INSTALL_PROGRAMS := $(filter-out bin/civisync-broker,$(PROGRAMS))

.PHONY: all test unit integration demo install clean deps check-deps faults bench bench-contribute bench-latency lint \
        deps-build install-check fresh-check compose-check compose-trial pkgcheck pkgcheck-test
all: $(PROGRAMS)

# pkg_check MODULE:PACKAGE...: fails naming every missing pkg-config module and its package.
define pkg_check
@command -v pkg-config >/dev/null 2>&1 || { \
  echo "error: pkg-config not found: install the Debian package pkg-config (or run make deps)" >&2; exit 1; }; \
bad=0; for e in $(1); do m=$${e%:*}; p=$${e##*:}; \
  if ! pkg-config --exists "$$m"; then bad=1; \
    echo "error: pkg-config module '$$m' not found: install the Debian package $$p (or run make deps)" >&2; \
    pkg-config --print-errors --exists "$$m" 2>&1 | sed 's/^/  pkg-config: /' >&2; \
  fi; \
done; exit $$bad
endef
pkgcheck:
	$(call pkg_check,$(PKG_MODULES))
pkgcheck-test:
	$(call pkg_check,$(PKG_MODULES) $(TEST_PKG_MODULES))

$(BUILD)/tests/%.o: CFLAGS += -Itests/lib
$(BUILD)/%.o: %.c | pkgcheck
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(CONSUME_LIB): $(patsubst %.c,$(BUILD)/%.o,$(filter-out consumer/main.c,$(consume_SRC)))
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^
$(PRODUCE_LIB): $(patsubst %.c,$(BUILD)/%.o,$(filter-out producer/main.c,$(produce_SRC)))
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

bin/civisync-produce: $(BUILD)/producer/main.o $(PRODUCE_LIB) $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
bin/civisync-consume: $(BUILD)/consumer/main.o $(CONSUME_LIB) $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
bin/civisync-broker: $(broker_SRC:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
bin/civisync-topics: $(topics_SRC:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
bin/civisync-verify: $(verify_SRC:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
bin/civisync-restore: $(restore_SRC:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(UNIT_SRC:%.c=$(BUILD)/%.o) $(INTEG_SRC:%.c=$(BUILD)/%.o): | pkgcheck-test
$(BUILD)/tests/unit_tests: $(UNIT_SRC:%.c=$(BUILD)/%.o) $(CONSUME_LIB) $(PRODUCE_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)
$(BUILD)/tests/integration_tests: $(INTEG_SRC:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# check_deps MODULE:PACKAGE...,TOOL:PACKAGE...[,link]: every module and tool resolves (and
# with link, a program using every library's header compiles and links); names each that does not.
define check_deps
@bad=0; \
for e in $(1); do m=$${e%:*}; p=$${e##*:}; \
  if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists "$$m"; then bad=1; \
    echo "check-deps: pkg-config module '$$m' NOT FOUND (Debian package $$p)" >&2; fi; \
done; \
for e in $(2); do t=$${e%:*}; p=$${e##*:}; \
  case "$$t" in /*) [ -x "$$t" ] ;; *) command -v "$$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$$t" ] ;; esac || { \
    bad=1; echo "check-deps: tool '$$t' NOT FOUND (Debian package $$p)" >&2; }; \
done; \
if [ $$bad = 0 ] && [ -n "$(3)" ]; then \
  printf '#include <librdkafka/rdkafka.h>\n#include <mysql.h>\n#include <jansson.h>\n#include <libconfig.h>\n#include <check.h>\nint main(void) { config_t c; json_t *j = json_object(); config_init(&c); config_destroy(&c); json_decref(j); return suite_create("deps") && rd_kafka_version() > 0 && mysql_get_client_version() > 0 ? 0 : 1; }\n' \
    | $(CC) -x c -o /dev/null - $$(pkg-config --cflags --libs $(call table_first,$(PKG_MODULES) $(TEST_PKG_MODULES))) \
    || { bad=1; echo "check-deps: a test program using every library's header does not compile and link (see above)" >&2; }; \
fi; \
if [ $$bad = 0 ]; then \
  echo "check-deps: ok: $(words $(1)) pkg-config modules, $(words $(2)) tools$(if $(3),$(comma) headers compile and link)"; \
else echo "check-deps: FAILED: install the packages named above (make deps)" >&2; exit 1; fi
endef

comma := ,
# apt_install PACKAGE...: installs those not installed yet (sudo unless root); a no-op otherwise.
define apt_install
@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

# deps: install exactly the Debian packages of the table (a no-op when present), then check-deps.
deps:
	$(call apt_install,$(DEB_PACKAGES))
	$(call check_deps,$(PKG_MODULES) $(TEST_PKG_MODULES),$(BUILD_TOOLS) $(TEST_TOOLS),link)
check-deps:
	$(call check_deps,$(PKG_MODULES) $(TEST_PKG_MODULES),$(BUILD_TOOLS) $(TEST_TOOLS),link)
# deps-build: only what building the programs needs (conf/docker/Dockerfile's build stage).
deps-build:
	$(call apt_install,$(BUILD_DEB_PACKAGES))
	$(call check_deps,$(PKG_MODULES),$(BUILD_TOOLS))

unit: deps
	$(MAKE) $(BUILD)/tests/unit_tests
	$(BUILD)/tests/unit_tests

# IT_JOBS: integration workers, each with its own MariaDB and broker (tests/run-integration-parallel.sh).
IT_JOBS ?= 2
integration: deps
	$(MAKE) all $(BUILD)/tests/integration_tests
	tests/run-integration-parallel.sh -j $(IT_JOBS) $(BUILD)/tests/integration_tests

# The sync suite again on a master whose AUTO_INCREMENT steps by 2 (Galera,
# replication setups), and a short run under innodb_autoinc_lock_mode=2.
AUTOINC_STEP2 := --auto-increment-increment=2 --auto-increment-offset=2
# test: lint runs last, so that a lint finding never hides the tests' own results.
test: deps
	$(MAKE) all $(TEST_BINS)
	$(MAKE) install-check
	tests/compose-check.sh
	$(BUILD)/tests/unit_tests
	tests/run-integration-parallel.sh -j $(IT_JOBS) $(BUILD)/tests/integration_tests
	CS_MARIADBD_ARGS="$(AUTOINC_STEP2)" CK_RUN_SUITE=sync tests/run-integration.sh $(BUILD)/tests/integration_tests
	CS_MARIADBD_ARGS="--innodb-autoinc-lock-mode=2" CK_RUN_SUITE=sync CK_RUN_CASE=settings \
		tests/run-integration.sh $(BUILD)/tests/integration_tests
	tests/compose-trial.sh
	$(MAKE) faults FAULTS_ARGS=--short
	$(MAKE) lint

# faults: the fault and bad-input suite (tests/faults, docs/FAULTS.md); FAULTS_ARGS=--short
# is the form `make test` runs; FAULTS_SEED=N replays a run's kill points.
faults: deps
	$(MAKE) all $(LIB)
	@mkdir -p $(BUILD)/tests
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(LDFLAGS) -o $(BUILD)/tests/faults-tool \
		-Itests/lib $(wildcard tests/faults/*.c) tests/lib/oracle.c $(LIB) $(LDLIBS)
	FAULTS_TOOL=$(CURDIR)/$(BUILD)/tests/faults-tool tests/faults/run.sh $(FAULTS_ARGS)

demo: deps
	$(MAKE) all
	tests/demo.sh

# bench: performance benchmark (not part of test; see docs/BENCHMARK.md). N=contacts (default 100000).
# The phase-1 benchmark (bench/bench.sh, BENCH_ARGS), then the contributions-heavy one
# (bench-contribute, CONTRIBUTE_ARGS); BENCH_CONTRIBUTE=0 runs the phase-1 one only.
BENCH_CONTRIBUTE ?= 1
bench: deps
	$(MAKE) all
	@mkdir -p $(BUILD)/bench
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(LDFLAGS) -o $(BUILD)/bench/civisync-bench-lag bench/lag.c $(LDLIBS)
	BENCH_LAG=$(CURDIR)/$(BUILD)/bench/civisync-bench-lag bench/bench.sh $(if $(N),--contacts $(N)) $(BENCH_ARGS)
	$(if $(filter 1,$(BENCH_CONTRIBUTE)),bench/contribute.sh $(if $(N),--contacts $(N)) $(CONTRIBUTE_ARGS))

# bench-contribute: complete sync of a contributions-heavy child (N contacts, 3 contributions
# each with their financial rows) against dump-and-load (see docs/BENCHMARK.md).
bench-contribute: deps
	$(MAKE) all
	bench/contribute.sh $(if $(N),--contacts $(N)) $(CONTRIBUTE_ARGS)

# bench-latency: real-time (--follow) latency under a steady write load (see docs/BENCHMARK.md).
bench-latency: all
	@mkdir -p $(BUILD)/bench
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(LDFLAGS) -o $(BUILD)/bench/civisync-bench-latency bench/latency.c $(LDLIBS)
	BENCH_LATENCY=$(CURDIR)/$(BUILD)/bench/civisync-bench-latency bench/latency.sh $(BENCH_ARGS)

# install: the programs (not the test broker), the example configuration, the systemd
# unit with its ExecStart pointing at $(PREFIX)/bin, the topic settings and the manual. The
# manual keeps the repository's layout (README.md, docs/) so its relative links resolve; its
# conf/ is a relative link to the installed examples.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/civisync/conf \
	           $(DESTDIR)$(PREFIX)/share/doc/civisync/docs
	install -m 0755 $(INSTALL_PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 conf/*.example $(DESTDIR)$(PREFIX)/share/civisync/conf/
	sed 's|/usr/local|$(PREFIX)|g' \
	    conf/civisync-consume.service >$(DESTDIR)$(PREFIX)/share/civisync/conf/civisync-consume.service
	chmod 0644 $(DESTDIR)$(PREFIX)/share/civisync/conf/civisync-consume.service
	sed 's|/usr/local|$(PREFIX)|g' \
	    conf/civisync-follow@.service >$(DESTDIR)$(PREFIX)/share/civisync/conf/civisync-follow@.service
	chmod 0644 $(DESTDIR)$(PREFIX)/share/civisync/conf/civisync-follow@.service
	sed 's|/usr/local/bin|$(PREFIX)/bin|g' conf/civisync.cron.example \
	    >$(DESTDIR)$(PREFIX)/share/civisync/conf/civisync.cron.example
	chmod 0644 $(DESTDIR)$(PREFIX)/share/civisync/conf/civisync.cron.example
	install -m 0644 topics/topics.cfg $(DESTDIR)$(PREFIX)/share/civisync/topics.cfg
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/civisync/
	install -m 0644 docs/*.md docs/*.json $(DESTDIR)$(PREFIX)/share/doc/civisync/docs/
	ln -sfn ../../civisync/conf $(DESTDIR)$(PREFIX)/share/doc/civisync/conf

# install-check: `make install` into a scratch DESTDIR with another PREFIX, then checks it
# (no test broker, the unit and cron example name $(PREFIX)/bin, the manual's links resolve).
install-check: all
	tests/install-check.sh

# compose-check: docker-compose.yml resolves with its passwords and refuses without them, and
# mounts schema, seed and demo rows (no Docker needed). compose-trial: its database init and a
# sync through it, on the harness's MariaDB and broker. Both are part of `make test`.
compose-check:
	tests/compose-check.sh
compose-trial: all
	tests/compose-trial.sh

# lint: repository checks (tests/lint.sh): no build output tracked, no .c over 1,200 lines,
# source rules (the consumer never disables foreign key checks). The last step of `make test`.
lint:
	tests/lint.sh

# fresh-check: `make demo` on a debootstrap'd bare Debian 12 with only make and git added,
# from the committed HEAD (tests/fresh-check.sh; needs root; not part of `make test`).
fresh-check:
	tests/fresh-check.sh

clean:
	rm -rf build build-* bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
