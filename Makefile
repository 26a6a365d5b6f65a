# ward: one non-recursive Makefile. Objects and programs go to $(BUILD).
# make SANITIZE=1 builds with ASan+UBSan into build/san.

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc

ifeq ($(SANITIZE),1)
BUILD := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT := -O1 -g
else
BUILD := build
SANFLAGS :=
OPT := -O2 -g
endif

PKGS := libpcre2-8 yara yaml-0.1 libssl libcrypto zlib
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wvla -Werror
HARDEN := -fstack-protector-strong -fPIE
ifneq ($(SANITIZE),1)
HARDEN += -D_FORTIFY_SOURCE=2
endif
CFLAGS ?=
CPPFLAGS := -Iinclude -D_GNU_SOURCE
ALL_CFLAGS = -std=c11 $(OPT) $(WARNINGS) $(HARDEN) $(SANFLAGS) $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = -pie -Wl,-z,relro,-z,now $(SANFLAGS) $(LDFLAGS)

LIB_SRCS := \
	lib/diag.c \
	lib/event.c \
	lib/re.c \
	lib/f2bdate.c \
	lib/decode.c \
	lib/logsource.c \
	lib/mpm.c \
	lib/relit.c \
	lib/yamltree.c \
	lib/rule.c \
	lib/detect.c \
	lib/yara.c \
	lib/engine.c \
	lib/loop.c \
	lib/json.c \
	lib/alert.c \
	lib/config.c \
	lib/correlate.c \
	lib/framing.c \
	lib/crypto.c \
	lib/wire.c \
	lib/tls.c \
	lib/feed.c \
	lib/spool.c \
	lib/sandbox.c

TOOLS := ward-rules
ward-rules_SRCS := tools/ward-rules.c tools/import_fail2ban.c tools/sigma_report.c

AGENT_SRCS := \
	agent/main.c \
	agent/agent.c \
	agent/agent_config.c \
	agent/pipeline.c \
	agent/output.c \
	agent/bookmark.c \
	agent/stats.c \
	agent/spool.c \
	agent/source_file.c \
	agent/source_journal.c \
	agent/source_syslog.c \
	agent/privacy.c \
	agent/ship.c \
	agent/spool.c \
	agent/resend.c \
	agent/indicators.c \
	agent/keygen.c \
	agent/confine.c
AGENT_LIBS = $(shell pkg-config --libs libsystemd 2>/dev/null)

# The collector's storage backends (collector/store.h); the collector's own sources are
# added next to them. store_db.c holds the logic both backends share.
COLLECTOR_STORE_SRCS := collector/store_db.c collector/store_sqlite.c collector/store_pg.c
COLLECTOR_STORE_OBJS = $(COLLECTOR_STORE_SRCS:%.c=$(BUILD)/%.o)
STORE_PKGS := sqlite3 libpq
STORE_CFLAGS = $(shell pkg-config --cflags $(STORE_PKGS) 2>/dev/null)
STORE_LIBS = $(shell pkg-config --libs $(STORE_PKGS) 2>/dev/null)

COLLECTOR_SRCS := \
	collector/main.c \
	collector/collector.c \
	collector/config.c \
	collector/server.c \
	collector/extract.c \
	collector/confine.c

# test programs the integration tests run
TEST_PROGS := $(BUILD)/wire-client $(BUILD)/collector-load

UNIT_TESTS := \
	test_diag \
	test_event \
	test_decode \
	test_logsource \
	test_re \
	test_detect \
	test_yamltree \
	test_rule \
	test_yara \
	test_mpm \
	test_engine \
	test_loop \
	test_json \
	test_alert \
	test_relit \
	test_config \
	test_correlate \
	test_framing \
	test_f2bdate \
	test_crypto \
	test_privacy \
	test_indicators \
	test_resend \
	test_spool \
	test_wire \
	test_tls \
	test_feed \
	test_collector \
	test_store \
	test_sandbox

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libward.a
TOOL_BINS := $(TOOLS:%=$(BUILD)/%) $(BUILD)/ward-agent $(BUILD)/ward-collector
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/unit/%)

# Test objects are intermediate files of the pattern rule below: keep them. (A bare
# .SECONDARY: would make every target intermediate, and make would then not build the
# object of a new source file when the library is newer than it.) make keeps an
# intermediate only when .PRECIOUS names the target pattern of the rule that made it,
# $(BUILD)/%.o, not a narrower one.
.PRECIOUS: $(BUILD)/%.o

.PHONY: all deps check unit integration sanitize demo bench fuzz fuzz-smoke fuzz-long format format-check \
	install deb rpm clean static cppcheck clang-tidy

all: $(LIB) $(TOOL_BINS) $(TEST_PROGS)

deps:
	@sh packaging/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/ward-rules: $(ward-rules_SRCS:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/ward-agent: $(AGENT_SRCS:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(AGENT_LIBS)

$(BUILD)/ward-collector: $(COLLECTOR_SRCS:%.c=$(BUILD)/%.o) $(COLLECTOR_STORE_OBJS) $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(STORE_LIBS)

# the collector's pure parts, without the store
$(BUILD)/tests/unit/test_collector: $(BUILD)/tests/unit/test_collector.o \
	$(BUILD)/collector/extract.o $(BUILD)/collector/config.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)

$(BUILD)/wire-client: $(BUILD)/tests/integration/lib/wire-client.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

# Unit tests can make allocations fail (tests/unit/failalloc.h).
FAILALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup \
	-Wl,--wrap=asprintf

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/tests/unit/failalloc.o $(LIB)
	$(CC) $(LDFLAGS_ALL) $(FAILALLOC_WRAP) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS) $(TEST_LIBS) -pthread

# bench/collector.sh's load generator (and its baseline: the SQLite store alone)
$(BUILD)/bench/collector-load.o: CPPFLAGS += -Icollector $(STORE_CFLAGS)
$(BUILD)/collector-load: $(BUILD)/bench/collector-load.o $(BUILD)/collector/extract.o \
		$(BUILD)/collector/config.o $(COLLECTOR_STORE_OBJS) $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(STORE_LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS) $(TEST_LIBS) -pthread

# Objects that include collector/store.h (as "store.h"), and the store's unit test.
$(COLLECTOR_STORE_OBJS) $(BUILD)/tests/unit/test_store.o: CPPFLAGS += -Icollector $(STORE_CFLAGS)
$(BUILD)/tests/unit/test_store: $(COLLECTOR_STORE_OBJS)
$(BUILD)/tests/unit/test_store: TEST_LIBS = $(STORE_LIBS)

# unit tests of the agent's modules that stand alone
$(BUILD)/tests/unit/test_indicators: $(BUILD)/tests/unit/test_indicators.o \
		$(BUILD)/agent/indicators.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS) -pthread
$(BUILD)/tests/unit/test_resend: $(BUILD)/tests/unit/test_resend.o $(BUILD)/agent/resend.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS) -pthread
$(BUILD)/tests/unit/test_privacy: $(BUILD)/tests/unit/test_privacy.o $(BUILD)/agent/privacy.o \
		$(BUILD)/agent/agent_config.o $(LIB)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS) -pthread

unit: $(UNIT_BINS)
	@WARD_BUILD=$(BUILD) sh tests/run.sh unit $(UNIT_BINS)

integration: all
	@WARD_BUILD=$(BUILD) sh tests/run.sh integration tests/integration/*.sh

sanitize:
	@WARD_SANITIZE=1 $(MAKE) --no-print-directory SANITIZE=1 unit integration

# check: set-up, every test, then every test again under ASan+UBSan.
check: deps
	@rm -f build/test-results
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit integration
	@$(MAKE) --no-print-directory sanitize
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory static
	@sh tests/summary.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@echo "== ward-rules check rules/"
	@$(BUILD)/ward-rules check rules
	@sh tools/demo.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh $(BUILD)/ward-rules
	@sh bench/agent.sh $(BUILD)/ward-agent
	@bash bench/collector.sh $(BUILD)
	@bash bench/ship.sh $(BUILD)

# Fuzzing: clang, libFuzzer, ASan+UBSan. The library is built once into build/fuzz/obj
# with coverage instrumentation; each harness links it with fuzz/failalloc.c (allocation
# failure injection, through -Wl,--wrap: tests/unit/failalloc.h). fuzz_decode.c is built once
# per decoder.
FUZZ_CC ?= clang
FUZZ := build/fuzz
FUZZ_DECODERS := raw syslog combined_access json kv auto fail2ban
FUZZ_HARNESSES := fuzz_rules fuzz_sigma_condition fuzz_relit fuzz_framing fuzz_config \
	$(FUZZ_DECODERS:%=fuzz_decode_%) fuzz_wire fuzz_feed fuzz_alert fuzz_spool
FUZZ_BINS := $(FUZZ_HARNESSES:%=$(FUZZ)/%)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -g -O1 $(WARNINGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_OBJS := $(LIB_SRCS:%.c=$(FUZZ)/obj/%.o)
FUZZ_AGENT_OBJS := $(FUZZ)/obj/agent/agent_config.o
FUZZ_SECONDS ?= 600
FUZZ_RUNS ?= 2000

$(FUZZ)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

# the wrappers and fuzz_run count calls: no coverage instrumentation for them
FUZZ_FAILALLOC := $(FUZZ)/obj/tests/unit/failalloc.o $(FUZZ)/obj/fuzz/failalloc.o
$(FUZZ_FAILALLOC): $(FUZZ)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -g -O1 $(WARNINGS) $(FUZZ_SAN) -D_GNU_SOURCE -MMD -MP -c $< -o $@

$(FUZZ)/obj/fuzz_decode_%.o: fuzz/fuzz_decode.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -Ifuzz $(FUZZ_CFLAGS) $(PKG_CFLAGS) -MMD -MP \
		-DFUZZ_DECODER=\"$*\" -c $< -o $@

$(FUZZ)/obj/fuzz_%.o: fuzz/fuzz_%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -Ifuzz -Iagent $(FUZZ_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ)/fuzz_%: $(FUZZ)/obj/fuzz_%.o $(FUZZ_FAILALLOC) $(FUZZ_AGENT_OBJS) $(FUZZ_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) $(FAILALLOC_WRAP) -o $@ $^ $(PKG_LIBS)

.SECONDARY: $(FUZZ_HARNESSES:%=$(FUZZ)/obj/%.o)

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

# Every harness for FUZZ_RUNS inputs after its seeds (make check runs it).
fuzz-smoke: fuzz
	@sh fuzz/run.sh smoke $(FUZZ_RUNS) $(FUZZ_HARNESSES)

# Every harness for FUZZ_SECONDS, one after the other, growing build/fuzz/corpus/<name>.
fuzz-long: fuzz
	@sh fuzz/run.sh long $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

# make static: cppcheck and clang-tidy (.clang-tidy) over the C sources, no finding
# allowed. clang-tidy gets the compile flags directly (no compile_commands.json), two
# files at a time (-P2: the machine's two cores).
STATIC_SRCS = $(sort $(wildcard lib/*.c agent/*.c collector/*.c tools/*.c))
TIDY_FLAGS = -std=c11 $(CPPFLAGS) -Icollector $(PKG_CFLAGS) $(STORE_CFLAGS) \
	$(shell pkg-config --cflags libsystemd 2>/dev/null)
static: cppcheck clang-tidy

cppcheck:
	@echo "static: cppcheck"
	@cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 \
		--inline-suppr -Iinclude -Icollector -D_GNU_SOURCE --std=c11 lib agent collector tools

clang-tidy:
	@echo "static: clang-tidy"
	@printf '%s\n' $(STATIC_SRCS) | xargs -P2 -n4 sh -c \
		'clang-tidy --quiet "$$@" -- $(TIDY_FLAGS) 2>/dev/null' _

FORMAT_FILES = $(wildcard include/ward/*.h lib/*.c agent/*.c agent/*.h collector/*.c collector/*.h \
	tools/*.c tests/unit/*.c tests/unit/*.h tests/integration/lib/*.c fuzz/*.c fuzz/*.h bench/*.c)
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

# make install PREFIX=/usr DESTDIR=...: the programs, the rules, the man pages, the docs,
# the systemd units (pointing at $(PREFIX)/sbin and $(SYSCONFDIR)) and the default
# configurations (only where none is installed yet: an admin's configuration is kept).
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/ward
DOCS := README.md docs/agent.md docs/alerts.md docs/collector.md docs/packaging.md \
	docs/privacy.md docs/rules.md docs/store.md docs/wire.md
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/ward/rules \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(SYSCONFDIR)/ward $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/ward-rules $(DESTDIR)$(PREFIX)/bin/ward-rules
	install -m 0755 $(BUILD)/ward-agent $(DESTDIR)$(PREFIX)/sbin/ward-agent
	install -m 0755 $(BUILD)/ward-collector $(DESTDIR)$(PREFIX)/sbin/ward-collector
	cp -R rules/. $(DESTDIR)$(PREFIX)/share/ward/rules/
	chmod -R u=rwX,go=rX $(DESTDIR)$(PREFIX)/share/ward/rules
	install -m 0644 man/ward-rules.1 $(DESTDIR)$(PREFIX)/share/man/man1/ward-rules.1
	install -m 0644 man/ward-agent.8 $(DESTDIR)$(PREFIX)/share/man/man8/ward-agent.8
	install -m 0644 man/ward-collector.8 $(DESTDIR)$(PREFIX)/share/man/man8/ward-collector.8
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	for u in ward-agent ward-collector; do \
		sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
			packaging/systemd/$$u.service >$(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service || exit 1; \
	done
	for c in agent collector; do \
		[ -e $(DESTDIR)$(SYSCONFDIR)/ward/$$c.yml ] || \
		{ sed 's|/usr/share/ward/rules|$(PREFIX)/share/ward/rules|' packaging/etc/$$c.yml \
			>$(DESTDIR)$(SYSCONFDIR)/ward/$$c.yml && \
		chmod 0644 $(DESTDIR)$(SYSCONFDIR)/ward/$$c.yml; } || exit 1; \
	done

# make deb [VERSION=X.Y.Z]: Debian packages from a clean copy of the tree (the files git
# knows, and new ones it does not ignore) in build/deb/ward-VERSION/, with packaging/debian
# as its debian/; the .debs end up in build/deb/. VERSION other than the changelog's
# adds a changelog entry in the copy (for upgrade tests).
DEB_VERSION_CHANGELOG := $(shell sed -n '1s/[()]/ /gp' packaging/debian/changelog | awk '{print $$2}')
VERSION ?= $(DEB_VERSION_CHANGELOG)
DEB_TREE := build/deb/ward-$(VERSION)
deb: deps
	@sh packaging/export.sh $(DEB_TREE)
	@cp -R packaging/debian $(DEB_TREE)/debian
	@if [ "$(VERSION)" != "$(DEB_VERSION_CHANGELOG)" ]; then \
		sh packaging/changelog-entry.sh $(VERSION) $(DEB_TREE)/debian/changelog; fi
	cd $(DEB_TREE) && dpkg-buildpackage -us -uc -b -j2
	@ls build/deb/*_$(VERSION)_*.deb

# make rpm [VERSION=X.Y.Z]: RPMs from packaging/rpm/ward.spec with rpmbuild, from a
# tarball of the same copy, in build/rpm/ (RPMS/ARCH/*.rpm). --nodeps: the build
# dependencies are Debian packages here, which rpm does not see.
RPM_TOP = $(CURDIR)/build/rpm
rpm: deps
	@rm -rf build/rpm && mkdir -p build/rpm/SOURCES build/rpm/SPECS
	@sh packaging/export.sh build/rpm/ward-$(VERSION)
	@tar -C build/rpm -czf build/rpm/SOURCES/ward-$(VERSION).tar.gz ward-$(VERSION)
	@rm -rf build/rpm/ward-$(VERSION)
	rpmbuild -bb --nodeps --define '_topdir $(RPM_TOP)' --define 'ward_version $(VERSION)' \
		packaging/rpm/ward.spec
	@ls build/rpm/RPMS/*/*.rpm

clean:
	rm -rf build

# (not in build/deb and build/rpm: the package builds' own trees, with their own objects)
-include $(shell find build \( -path build/deb -o -path build/rpm \) -prune -o -name '*.d' -type f -print 2>/dev/null)
