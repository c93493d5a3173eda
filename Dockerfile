# syntax=docker/dockerfile:1
# batchkeeper worker image (also runs the emulator and the other CLI commands). See docs/docker.md.
#   docker build -t batchkeeper .
#   docker run --rm batchkeeper --help
# Both stages use the same Node/Debian base so native modules built in the first (better-sqlite3) and the
# prebuilt ones (@temporalio/core-bridge, glibc) load in the second.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- build: install everything, compile, bundle the workflows, then drop dev dependencies ----
FROM ${NODE_IMAGE} AS build
# node-gyp needs these when better-sqlite3 cannot use a prebuilt binary (none for the platform, or GitHub,
# where prebuild-install fetches them, is unreachable from the build).
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
# Build native modules against this image's own Node headers instead of downloading them from nodejs.org.
ENV npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json .swcrc ./
COPY scripts/bundle-workflows.ts ./scripts/
COPY workflows ./workflows
COPY activities ./activities
COPY src ./src
# `build` = tsc (dist/) + the pre-bundled workflow code (dist/workflow-bundle.js, so workers skip webpack at start).
RUN npm run build \
  && test -f dist/src/cli/main.js \
  && test -f dist/workflow-bundle.js \
  && npm prune --omit=dev
# @temporalio/core-bridge ships prebuilt binaries for five platforms (~30 MB each): keep this platform's only,
# chosen by the package's own mapping (fails here, not at run time, when there is none for this platform).
RUN cd node_modules/@temporalio/core-bridge/releases \
  && keep="$(node -p "require('../common.js').getPrebuiltTargetName()")" \
  && test -f "$keep/index.node" \
  && find . -mindepth 1 -maxdepth 1 -type d ! -name "$keep" -exec rm -rf {} + \
  && cd /app \
  && node -e "require('@temporalio/core-bridge'); require('better-sqlite3')(':memory:').close()"

# ---- runtime: only what `node dist/src/cli/main.js` needs ----
FROM ${NODE_IMAGE} AS runtime
# MALLOC_ARENA_MAX=2: glibc gives threads that allocate at once (the Temporal core's, V8's helpers) arenas of their
# own, whose freed memory stays resident; with two, a worker holding 1,000 cached workflows measured 676 MB RSS
# instead of 949 MB (docs/scale.md, sizing workers).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2
WORKDIR /app
# Application files stay owned by root (read-only for the process); .data is where the SQLite ledger goes
# when no BATCHKEEPER_DATABASE_URL is set (mount a volume there to keep it).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /app/.data && chown node:node /app/.data
# The node image's unprivileged user (uid 1000).
USER node
# Prometheus metrics of the worker when BATCHKEEPER_METRICS_PORT=9464.
EXPOSE 9464
# Healthy = the metrics endpoint answers (no curl/wget needed). Without BATCHKEEPER_METRICS_PORT there is nothing
# to probe, so the check passes; the emulator service in docker-compose.yml brings its own check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const p = process.env.BATCHKEEPER_METRICS_PORT; if (!p) process.exit(0); require('http').get({ host: '127.0.0.1', port: p, path: '/metrics', timeout: 4000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1));"]
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["worker"]
