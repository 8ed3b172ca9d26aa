# civisync — build, test, demo and install.
PREFIX    ?= /usr/local
DESTDIR   ?=
SANITIZER ?=

PKGS      := rdkafka libmariadb jansson libconfig
CC        ?= cc
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2 -MMD -MP -Ishared
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
             bin/civisync-topics bin/civisync-verify
produce_SRC := $(wildcard producer/*.c)
consume_SRC := $(wildcard consumer/*.c)
broker_SRC  := topics/broker.c
topics_SRC  := $(filter-out topics/broker.c,$(wildcard topics/*.c))
verify_SRC  := $(wildcard consumer/verify/*.c)

UNIT_SRC  := $(wildcard tests/unit/*.c)
INTEG_SRC := $(wildcard tests/integration/*.c) tests/unit/jsonschema.c
TEST_BINS := $(BUILD)/tests/unit_tests $(BUILD)/tests/integration_tests

DEB_PACKAGES := build-essential pkg-config librdkafka-dev libmariadb-dev \
                libjansson-dev libconfig-dev check mariadb-server mariadb-client \
                docker-compose time procps

.PHONY: all test unit integration demo install clean deps check-deps faults bench
all: $(PROGRAMS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

bin/civisync-produce: $(produce_SRC:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
bin/civisync-consume: $(consume_SRC:%.c=$(BUILD)/%.o) $(LIB)
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

$(BUILD)/tests/unit_tests: $(UNIT_SRC:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)
$(BUILD)/tests/integration_tests: $(INTEG_SRC:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# deps: install exactly the Debian packages civisync needs; a no-op when present.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

unit: deps
	$(MAKE) $(BUILD)/tests/unit_tests
	$(BUILD)/tests/unit_tests

integration: deps
	$(MAKE) all $(BUILD)/tests/integration_tests
	tests/run-integration.sh $(BUILD)/tests/integration_tests

test: deps
	$(MAKE) all $(TEST_BINS)
	docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"
	$(BUILD)/tests/unit_tests
	tests/run-integration.sh $(BUILD)/tests/integration_tests
	$(MAKE) faults FAULTS_ARGS=--short

# faults: the fault and bad-input suite (tests/faults, docs/FAULTS.md); FAULTS_ARGS=--short
# is the form `make test` runs; FAULTS_SEED=N replays a run's kill points.
faults: deps
	$(MAKE) all $(LIB)
	@mkdir -p $(BUILD)/tests
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(LDFLAGS) -o $(BUILD)/tests/faults-tool \
		$(wildcard tests/faults/*.c) $(LIB) $(LDLIBS)
	FAULTS_TOOL=$(CURDIR)/$(BUILD)/tests/faults-tool tests/faults/run.sh $(FAULTS_ARGS)

demo: deps
	$(MAKE) all
	tests/demo.sh

# bench: performance benchmark (not part of test; see docs/BENCHMARK.md). N=contacts (default 100000).
bench: deps
	$(MAKE) all
	@mkdir -p $(BUILD)/bench
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(LDFLAGS) -o $(BUILD)/bench/civisync-bench-lag bench/lag.c $(LDLIBS)
	BENCH_LAG=$(CURDIR)/$(BUILD)/bench/civisync-bench-lag bench/bench.sh $(if $(N),--contacts $(N)) $(BENCH_ARGS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/civisync/conf \
	           $(DESTDIR)$(PREFIX)/share/doc/civisync
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 conf/*.example conf/civisync-consume.service \
	        $(DESTDIR)$(PREFIX)/share/civisync/conf/
	install -m 0644 topics/topics.cfg $(DESTDIR)$(PREFIX)/share/civisync/topics.cfg
	install -m 0644 README.md docs/*.md docs/*.json $(DESTDIR)$(PREFIX)/share/doc/civisync/

clean:
	rm -rf build build-address build-undefined bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
