// Connections: a public client over the configured RPC for every read, and the injected
// EIP-1193 wallet (window.ethereum) for accounts and transactions only.
import {
  createPublicClient,
  createWalletClient,
  custom,
  defineChain,
  getAddress,
  http,
  numberToHex,
  webSocket,
} from 'viem'

/** GET /api/config from `keeper web` (RPC URL, chain id, addresses, ABIs). */
export async function loadConfig() {
  const res = await fetch('./api/config', { cache: 'no-store' })
  if (!res.ok) throw new Error(`config endpoint answered ${res.status}: is this served by keeper web?`)
  return res.json()
}

export function makeChain(config) {
  const ws = /^wss?:/.test(config.rpcUrl)
  return defineChain({
    id: config.chainId,
    name: config.chainId === 31337 ? 'anvil' : `chain ${config.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: ws ? { http: [], webSocket: [config.rpcUrl] } : { http: [config.rpcUrl] } },
  })
}

export function makePublicClient(config, chain) {
  const transport = /^wss?:/.test(config.rpcUrl)
    ? webSocket(config.rpcUrl)
    : http(config.rpcUrl, { batch: { batchSize: 200, wait: 5 } })
  // Receipts are polled every second (viem waits 4 s by default; L2 blocks come every 1-2 s).
  return createPublicClient({ chain, transport, pollingInterval: 1_000 })
}

/** The wallet, or null when the browser has none. */
export function injected() {
  return typeof window !== 'undefined' && window.ethereum ? window.ethereum : null
}

export function makeWalletClient(chain) {
  const provider = injected()
  return provider ? createWalletClient({ chain, transport: custom(provider) }) : null
}

/** Ask the wallet for an account (the wallet's prompt); returns the checksummed address. */
export async function connectWallet(wallet) {
  const [account] = await wallet.requestAddresses()
  return account ? getAddress(account) : null
}

/** Accounts the wallet already exposes to this page, without a prompt. */
export async function knownAccount(wallet) {
  const [account] = await wallet.getAddresses()
  return account ? getAddress(account) : null
}

/** Ask the wallet to switch to the configured chain; returns the chain id it is on after. */
export async function ensureChain(wallet, chainId) {
  const current = await wallet.getChainId()
  if (current === chainId) return current
  try {
    await wallet.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: numberToHex(chainId) }] })
  } catch {
    // The wallet refused or does not know the chain: the page says so and does not send.
  }
  return wallet.getChainId()
}
