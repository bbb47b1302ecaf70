// The npm @automerge/automerge-repo-sync-server, unchanged, but bound to 127.0.0.1: it
// listens on every interface by default. PORT and DATA_DIR as for the server itself.
import express from "express"

const listen = express.application.listen
express.application.listen = function (port, ...rest) {
  return listen.call(this, port, "127.0.0.1", ...rest)
}
const { Server } = await import("@automerge/automerge-repo-sync-server/src/server.js")
new Server()
