# certagent build and packaging. `make build` builds the binary,
# `make package` the .deb and .rpm in dist/ with the pinned nfpm, which it
# installs into $(TOOLS) (.cache/bin, or $CERTAGENT_TOOLS) with `go install`
# when it is not there. Tests: `bash test/all.sh`.

# Version: see packaging/version.sh (git describe, falling back to 0.1.0).
VERSION ?= $(shell sh packaging/version.sh)

GO       ?= go
# nfpm is pinned: another version may lay out the packages differently.
NFPM_VERSION := v2.45.2
TOOLS    ?= $(or $(CERTAGENT_TOOLS),$(CURDIR)/.cache/bin)
NFPM     ?= $(TOOLS)/nfpm
BUILD    := dist/build
# Reproducible changelog date: the last commit's.
DATE     := $(shell git log -1 --format=%cD 2>/dev/null || date -R)

export VERSION

.PHONY: all build package deb rpm clean print-version

all: build

print-version:
	@echo $(VERSION)

build: $(BUILD)/certagent

# Static (CGO_ENABLED=0), so the same binary runs on any amd64 distro.
$(BUILD)/certagent: FORCE
	@mkdir -p $(BUILD)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $@ ./cmd/certagent

$(BUILD)/%.gz: packaging/man/%
	@mkdir -p $(BUILD)
	gzip -9n < $< > $@

$(BUILD)/changelog.Debian.gz: FORCE
	@mkdir -p $(BUILD)
	printf 'certagent (%s-1) unstable; urgency=medium\n\n  * Upstream release %s.\n\n -- certagent maintainers <maintainers@certagent.invalid>  %s\n' \
		'$(VERSION)' '$(VERSION)' '$(DATE)' | gzip -9n > $@

PKG_INPUTS := $(BUILD)/certagent $(BUILD)/certagent.8.gz $(BUILD)/certagent.toml.5.gz $(BUILD)/changelog.Debian.gz

package: deb rpm

# Installs the pinned nfpm when it is missing (a fresh clone).
$(TOOLS)/nfpm:
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

deb: $(PKG_INPUTS) $(filter $(TOOLS)/nfpm,$(NFPM))
	$(NFPM) package --config nfpm.yaml --packager deb --target dist/certagent_$(VERSION)_amd64.deb

rpm: $(PKG_INPUTS) $(filter $(TOOLS)/nfpm,$(NFPM))
	$(NFPM) package --config nfpm.yaml --packager rpm --target dist/certagent-$(VERSION).x86_64.rpm

clean:
	rm -rf dist

FORCE:
