// Read logs over a block range a provider may refuse as too large, by splitting it.
//
// Providers cap eth_getLogs by block range or by result count, each in its own words. On such a
// refusal `getLogsInSpans` halves the span it asks for until a query is answered, then walks on
// through the range at that span, so a range of n blocks under a limit of k costs about
// log2(n / k) refused queries and n / k answered ones. A single block still too large cannot be
// split: that is one line naming the block. Any other error is thrown as it came (viem has
// already retried what it retries). The keeper does the same: keeper/chain/logs.py.

/**
 * How providers say an eth_getLogs query is too large: keeper/chain/retry.py's
 * LOG_QUERY_TOO_LARGE, word for word (Infura, geth, Alchemy, BSC, erigon, QuickNode, reth ...).
 */
export const LOG_QUERY_TOO_LARGE = new RegExp(
  [
    String.raw`query returned more than \d+ results`,
    String.raw`exceeds? max(imum)? results`,
    String.raw`log response size exceeded`,
    String.raw`block range (is )?too (wide|large|big)`,
    String.raw`exceeds? (the )?max(imum)? block range`,
    String.raw`(bigger|larger|greater) than (the )?max ?block ?range`,
    String.raw`range \d+ (exceeds|is bigger than) (the )?(range )?limit`,
    String.raw`limited to an? [\d,]+ (block )?range`,
    String.raw`requests with up to an? [\d,]+k? block range`,
  ].join('|'),
  'i',
)

/** A range whose single block is still over the provider's log limit. */
export class LogQueryTooLargeError extends Error {
  constructor(block, said) {
    super(`eth_getLogs: block ${block} alone is over the RPC's log limit (${said})`)
    this.name = 'LogQueryTooLargeError'
    this.said = said
  }
}

/**
 * The provider's words when `error` says a log query is too large, else null. viem wraps the
 * node's error (LimitExceededRpcError, InvalidParamsRpcError, HttpRequestError ...): the words
 * are in the message, `details` or `data` of the error or one of its causes.
 */
export function logQueryTooLarge(error) {
  for (let e = error, depth = 0; e && depth < 8; e = e.cause, depth++) {
    const data = typeof e.data === 'string' ? e.data : e.data ? safeJson(e.data) : ''
    for (const text of [e.details, e.shortMessage, e.message, data]) {
      if (typeof text !== 'string') continue
      // One line, the node's own (viem's messages add "Details: ..." and "Version: ..." lines).
      const line = text.split('\n').find((l) => LOG_QUERY_TOO_LARGE.test(l))
      if (line) return line.replace(/^\s*Details:\s*/, '').trim()
    }
  }
  return null
}

function safeJson(value) {
  try {
    return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
  } catch {
    return ''
  }
}

/**
 * `client.getLogs(query)` over [fromBlock, toBlock] (bigints), in block order, split into
 * spans the provider answers.
 *
 * @throws {LogQueryTooLargeError} one block's logs alone are over the provider's limit.
 */
export async function getLogsInSpans(client, query, fromBlock, toBlock) {
  const logs = []
  let span = toBlock - fromBlock + 1n
  let start = fromBlock
  while (start <= toBlock) {
    const end = start + span - 1n < toBlock ? start + span - 1n : toBlock
    let page
    try {
      page = await client.getLogs({ ...query, fromBlock: start, toBlock: end })
    } catch (err) {
      const said = logQueryTooLarge(err)
      if (said === null) throw err
      if (end <= start) throw new LogQueryTooLargeError(start, said)
      span = (end - start + 2n) / 2n
      continue
    }
    logs.push(...page)
    start = end + 1n
  }
  return logs
}
