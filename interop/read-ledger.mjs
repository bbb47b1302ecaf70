// Reads a till's ledger document from fairpos headquarters with the JavaScript
// automerge-repo, as any automerge-repo client would, and prints what it sold.
//   node read-ledger.mjs ws://127.0.0.1:7700/sync TOKEN PEER_ID DOCUMENT_ID
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const [url, token, peerId, documentId] = process.argv.slice(2)
const repo = new Repo({
  network: [new WebSocketClientAdapter(`${url}?token=${encodeURIComponent(token)}`)],
  peerId,
})
const timer = setTimeout(() => {
  console.error("timed out waiting for the document")
  process.exit(2)
}, 20000)
const handle = await repo.find(`automerge:${documentId}`)
const doc = handle.doc()
let sales = 0
let totalFen = 0
let lines = 0
for (const json of Object.values(doc.records)) {
  const record = JSON.parse(json)
  if (record.kind === "sale") {
    sales += 1
    totalFen += record.total_fen
    lines += record.lines.length
  }
}
clearTimeout(timer)
console.log(JSON.stringify({ device: doc.device, day: doc.day, sales, total_fen: totalFen, lines }))
process.exit(0)
