# syntax=docker/dockerfile:1.7-labs
# check=error=true

ARG DEBIAN_VERSION=bookworm

FROM debian:${DEBIAN_VERSION}-slim AS base
RUN rm -f /etc/apt/apt.conf.d/docker-clean; \
    echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked <<EOT
set -e
apt-get update
apt-get install -y --no-install-recommends gcc libc6-dev make
EOT

FROM base AS build
WORKDIR /src
COPY --link --exclude=*.md --exclude=docs/ . .
RUN --mount=type=secret,id=netrc,target=/root/.netrc \
    --mount=type=ssh \
    make -j"$(nproc)"

FROM scratch AS export
COPY --link --from=build /src/out/ /

FROM debian:${DEBIAN_VERSION}-slim AS runtime
COPY --link --chmod=0755 <<-"EOF" /usr/local/bin/entrypoint
	#!/bin/sh
	exec "$@"
	EOF
COPY --link --from=build /src/out/app /usr/local/bin/app
ADD --link --checksum=sha256:5b2a6c0a24a3bdc5b1c7b2c4b0c1c8c1f6f8a9a6d0e0f7b2a1c3d4e5f6a7b8c9 \
    https://example.com/ca.pem /etc/ssl/certs/extra.pem
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["app"]
