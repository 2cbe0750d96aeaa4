# roomcast: one image, one process, one port (Socket.IO, the HTTP API, SSE, /metrics and the demo).
#
#   docker build -t roomcast .
#   docker run -p 3000:3000 -e NODE_ENV=production \
#     -e ROOMCAST_JWT_SECRET=... -e ROOMCAST_API_KEYS=... -e ROOMCAST_ALLOWED_ORIGINS=https://app.example.com roomcast
#
# Proven by `npm run test:container` (build, run, /healthz, a real client, SIGTERM drain).

# ---- build: dev dependencies, TypeScript -> dist/, the browser bundle -> public/ -----------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
# The lockfile layer is cached until package*.json changes. Scripts are skipped here because
# `prepare` builds from src/, which is not copied yet; `npm rebuild` then runs the dependencies'
# own install scripts (esbuild's binary check).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild
COPY . .
# public/ holds the demo page and the browser bundle the build writes; make sure it exists.
RUN npm run build && mkdir -p public

# ---- runtime: production dependencies and the build output only -------------------------------
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# --ignore-scripts: `prepare` would try to build (no TypeScript here); no production dependency
# has an install script of its own.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force \
  && rm -rf /root/.npm /tmp/*
# Owned by root and read-only for the `node` user the process runs as.
COPY config ./config
COPY --from=build /app/dist ./dist
COPY --from=build /app/public ./public

USER node
EXPOSE 3000
# Liveness: node's own fetch, no curl in the image. Follows PORT if it is overridden.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 (the base entrypoint execs it) and gets SIGTERM itself; src/main.ts
# drains on it (clients get `closing {code:"shutting_down"}`) and exits 0. Give the stop timeout
# more than shutdownGraceMs (5 s by default): `docker stop -t 15`, compose `stop_grace_period`.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js", "serve"]
