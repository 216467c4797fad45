// The test wallet, injected before the page's own scripts (page.add_init_script): an EIP-1193
// provider for one fixed anvil account. Accounts are exposed only after eth_requestAccounts (as
// a real wallet does after the user's approval); eth_sendTransaction goes to the Python side
// (window.__walletSend, page.expose_function), which signs with the account's anvil key using
// eth-account and sends the raw transaction; everything else is forwarded to the node.
// Every transaction line's state changes (the Actions card's log and the redemption queue's) are
// recorded in window.__txStates, so a test can check
// that a transaction was shown pending before it was shown confirmed.
;(() => {
  const { account, rpcUrl } = __WALLET__
  let connected = false
  let id = 0
  const listeners = {}
  const emit = (event, value) => (listeners[event] || []).forEach((fn) => fn(value))
  // A test can put the wallet on another chain (window.__walletSetChain('0x1'); null = the
  // node's own) and have it refuse to switch (window.__walletRefuseSwitch = true) or to connect
  // (window.__walletRefuseConnect = true), as a user who declines the wallet's prompt.
  let chainOverride = null
  window.__walletRefuseSwitch = false
  window.__walletRefuseConnect = false
  window.__walletSetChain = async (hex) => {
    chainOverride = hex
    emit('chainChanged', hex ?? (await forward('eth_chainId')))
  }
  async function forward(method, params) {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params: params ?? [] }),
    })
    const body = await res.json()
    if (body.error) {
      const err = new Error(body.error.message)
      err.code = body.error.code
      err.data = body.error.data
      throw err
    }
    return body.result
  }
  window.ethereum = {
    isTestWallet: true,
    async request({ method, params }) {
      switch (method) {
        case 'eth_requestAccounts':
          if (window.__walletRefuseConnect) throw Object.assign(new Error('User rejected the request.'), { code: 4001 })
          connected = true
          emit('accountsChanged', [account])
          return [account]
        case 'eth_accounts':
          return connected ? [account] : []
        case 'eth_chainId':
          return chainOverride ?? forward(method, params)
        case 'wallet_switchEthereumChain': {
          if (window.__walletRefuseSwitch) throw Object.assign(new Error('User rejected the request.'), { code: 4001 })
          const real = await forward('eth_chainId')
          if (BigInt(params[0].chainId) !== BigInt(real)) throw Object.assign(new Error('Unrecognized chain.'), { code: 4902 })
          if (chainOverride !== null) await window.__walletSetChain(null)
          return null
        }
        case 'eth_sendTransaction':
          if (!connected) throw Object.assign(new Error('not connected'), { code: 4100 })
          return window.__walletSend(params[0])
        case 'eth_getTransactionByHash': {
          // A transaction this wallet sent, as its own node knows it (window.__walletTx: the
          // Python side's record), whatever the page's node shows; others from the node.
          const own = window.__walletTx ? await window.__walletTx(params[0]) : null
          return own ?? forward(method, params)
        }
        default:
          return forward(method, params)
      }
    },
    on(event, fn) {
      ;(listeners[event] ||= []).push(fn)
    },
    removeListener(event, fn) {
      listeners[event] = (listeners[event] || []).filter((f) => f !== fn)
    },
  }
  // And each time the Actions card turns busy (true) or idle (false) in window.__actionsBusy: a
  // send has run to its end once the card was busy and is idle again.
  window.__txStates = []
  window.__actionsBusy = []
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target
      if (el.nodeType !== 1) continue
      if (r.attributeName === 'data-state' && el.matches('ol.txlog > li') && el.dataset.state) {
        window.__txStates.push(el.dataset.state)
      }
      if (r.attributeName === 'class' && el.matches('[data-testid="actions"]')) {
        const busy = el.classList.contains('busy')
        const log = window.__actionsBusy
        if (log[log.length - 1] !== busy) log.push(busy)
      }
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state', 'class'] })
})()
