# syntax=docker/dockerfile:1
# The weft image: `node bin/weft.js serve` by default; the same image runs workers
# (`node bin/weft.js worker <module>`). See docker-compose.yml.

# The same Node as the `node` devDependency (package.json: node@24.21.0), on Debian bookworm.
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
# The runtime talks to a NATS server elsewhere; the build needs no local nats-server.
ENV WEFT_SKIP_NATS_INSTALL=1
COPY package.json package-lock.json ./
# --ignore-scripts skips `prepare` (it needs the sources, copied below) and the `node`
# devDependency's download of a second Node 24: this image already runs Node 24.
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build

FROM node:24.21.0-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    WEFT_SKIP_NATS_INSTALL=1
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# Workers load TypeScript modules directly (Node 24 strips types outside node_modules);
# examples import from src, so both ship as source.
COPY src ./src
COPY examples ./examples
RUN mkdir -p .weft && chown node:node .weft
USER node
CMD ["node", "bin/weft.js", "serve"]
