# cx — build, test, install. `make run` and `make check` are the whole set-up
# on a fresh Debian 12 machine: both install missing build dependencies first
# (with apt-get, when run as root).

VERSION   = 0.1.0
PREFIX   ?= /usr/local
CC       ?= cc
SAN      ?=

CFLAGS_BASE = -std=c17 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	-DCX_VERSION='"$(VERSION)"' -DCX_SHARE_DEFAULT='"$(PREFIX)/share/cx"' \
	$(addprefix -I,$(SRC_DIRS))
ifeq ($(SAN),1)
CFLAGS_MODE = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
CFLAGS_MODE =
endif
ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS_MODE) $(CFLAGS)
LDLIBS = -ljq -lonig -lsqlite3 -lcrypto -lcurl -lmicrohttpd -lical -lexpat -lresolv -lpthread -lm

# Debian packages the build and the tests need.
DEPS = gcc make libc6-dev libjq-dev libonig-dev libsqlite3-dev libssl-dev \
	libcurl4-openssl-dev libmicrohttpd-dev libical-dev libexpat1-dev sqlite3 jq mandoc bats \
	bats-support bats-assert bats-file python3 curl procps openssl tmux radicale \
	nodejs npm
# CalDAV interop tests: a second server, Radicale's pytz, git for xandikos's store
DEPS += xandikos python3-tz git
# What else a minimal Debian 12 lacks (make check-fresh proves the list): col,
# xxd, strace, and the shells whose completions the tests check.
DEPS += bsdextrautils xxd strace zsh fish
# E-mail tests: the SMTP server they send to (tests/mock/smtpd.py)
DEPS += python3-aiosmtpd
# The SES and S3 mocks check SigV4 signatures with botocore
DEPS += python3-botocore
# cx email check-domain: a local DNS server with TXT and CNAME records
DEPS += dnsmasq-base

# Plain and sanitizer builds live apart, so one never clobbers the other:
# objects in $(O), programs in $(B).
ifeq ($(SAN),1)
O = build/san
B = build/san/bin
else
O = build/rel
B = bin
endif

# The floors (docs/ARCHITECTURE.md): src/lib/{core,store,net,oauth,interfaces},
# then src/providers (one folder per platform, and the registries); all of
# them make libcx.a. Headers are included by their bare names.
SRC_DIRS = $(patsubst %/,%,$(sort $(dir $(wildcard src/lib/*/*.h src/providers/*.h src/providers/*/*.h))))
LIB_SRC  = $(wildcard src/lib/*/*.c src/providers/*.c src/providers/*/*.c)
LIB_OBJ  = $(LIB_SRC:src/%.c=$(O)/%.o)
# A tool is src/cx-NAME.c, or a folder src/cx-NAME/ when it grows.
FILE_TOOLS = $(patsubst src/%.c,%,$(wildcard src/cx*.c))
DIR_TOOLS  = $(patsubst src/%/,%,$(wildcard src/cx-*/))
TOOLS    = $(FILE_TOOLS) $(DIR_TOOLS)
BINS     = $(TOOLS:%=$(B)/%)
UNIT_SRC = $(wildcard tests/unit/*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(O)/unit/%)

all: $(BINS)

# Everything rebuilds when the flags change.
$(O)/flags: FORCE
	@mkdir -p $(O)
	@echo '$(ALL_CFLAGS)' | cmp -s - $@ || echo '$(ALL_CFLAGS)' > $@

$(O)/%.o: src/%.c $(O)/flags $(wildcard src/*/*.h src/*/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/libcx.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/%: $(O)/%.o $(O)/libcx.a
	@mkdir -p $(B)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(O)/libcx.a $(LDLIBS)

define dir_tool
$(B)/$(1): $$(patsubst src/%.c,$(O)/%.o,$$(wildcard src/$(1)/*.c)) $(O)/libcx.a
	@mkdir -p $(B)
	$$(CC) $$(ALL_CFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach t,$(DIR_TOOLS),$(eval $(call dir_tool,$(t))))

$(O)/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(O)/libcx.a $(O)/flags
	@mkdir -p $(O)/unit
	$(CC) $(ALL_CFLAGS) -o $@ $< $(O)/libcx.a $(LDLIBS)

deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q 'install ok installed' || dpkg-query -W -f='$${Provides}\n' \
		| tr ',' '\n' | awk '{ print $$1 }' | grep -qx $$p || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:" $$missing; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "missing Debian packages: $$missing (run as root, or: sudo apt-get install $$missing)" >&2; \
			exit 1; \
		fi; \
	fi

# The OpenID server the OAuth tests run against, installed from its lock
# file; nothing is fetched while the installed tree is newer than the lock.
PEER_OIDC = tests/peer/oidc/node_modules/.package-lock.json
$(PEER_OIDC): tests/peer/oidc/package.json tests/peer/oidc/package-lock.json
	npm ci --prefix tests/peer/oidc --no-audit --no-fund --loglevel=error
	@touch $@

# The Standard Webhooks receiver the trigger tests deliver to.
PEER_SWH = tests/peer/swh/node_modules/.package-lock.json
$(PEER_SWH): tests/peer/swh/package.json tests/peer/swh/package-lock.json
	npm ci --prefix tests/peer/swh --no-audit --no-fund --loglevel=error
	@touch $@

# The S3-compatible server the s3 channel is also tested against.
PEER_S3RVER = tests/peer/s3rver/node_modules/.package-lock.json
$(PEER_S3RVER): tests/peer/s3rver/package.json tests/peer/s3rver/package-lock.json
	npm ci --prefix tests/peer/s3rver --no-audit --no-fund --loglevel=error
	@touch $@

# The Zapier app's dependencies (zapier-platform-core), which its tests need;
# `make install` leaves them out.
ZAPIER_APP = share/cx/zapier/node_modules/.package-lock.json
$(ZAPIER_APP): share/cx/zapier/package.json share/cx/zapier/package-lock.json
	npm ci --prefix share/cx/zapier --no-audit --no-fund --loglevel=error
	@touch $@

check: deps
	$(MAKE) all $(UNIT_BIN) $(PEER_OIDC) $(PEER_SWH) $(PEER_S3RVER) $(ZAPIER_APP)
	@CX_BIN=$(CURDIR)/$(B) CX_UNIT_DIR=$(O)/unit tests/run

run: deps
	$(MAKE) all
	@share/cx/examples/run.sh

# The benchmarks, one after the other (each prints its table and verdict);
# `make bench BENCH=delivery` runs bench/delivery.sh alone.
BENCH ?= $(patsubst bench/%.sh,%,$(filter-out bench/lib.sh,$(wildcard bench/*.sh)))
bench: all
	@failed=; for b in $(BENCH); do bench/$$b.sh || failed="$$failed $$b"; done; \
	[ -z "$$failed" ] || { echo "bench: failed:$$failed" >&2; exit 1; }

# make run and make check on a throwaway minimal Debian 12 (as root).
check-fresh:
	@tests/fresh/check-fresh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/cx \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man7 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	tar -C share/cx --exclude=node_modules -cf - . | tar -C $(DESTDIR)$(PREFIX)/share/cx --no-same-owner -xf -
	for s in 1 5 7; do for f in man/man$$s/*.$$s; do [ -e "$$f" ] && \
		install -m 0644 $$f $(DESTDIR)$(PREFIX)/share/man/man$$s/; done; done; true
	install -m 0644 completions/cx.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/cx
	for t in $(filter-out cx,$(TOOLS)); do \
		ln -sf cx $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$t; done
	install -m 0644 completions/_cx $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_cx
	install -m 0644 completions/cx.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/cx.fish
	for t in $(filter-out cx,$(TOOLS)); do \
		ln -sf cx.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$t.fish; done

lint-man:
	mandoc -Tlint -W warning man/man*/*

clean:
	rm -rf build bin

.PHONY: all deps check check-fresh run bench install lint-man clean FORCE
.SECONDARY:
