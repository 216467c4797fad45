// Reverts in plain words. viem decodes a revert's data with the vault's ABI (which carries the
// OptionVault errors and the OpenZeppelin ERC-20 / ERC-4626 / access-control errors it inherits),
// or for the redemption queue's calls with the queue's ABI plus the vault's errors (a request
// moves shares on the vault, a fill redeems there); each error name maps to one sentence here. An error this table does not know is still shown,
// by name and arguments, never swallowed.
import {
  BaseError,
  ContractFunctionRevertedError,
  UserRejectedRequestError,
  decodeErrorResult,
  hexToString,
} from 'viem'
import { esc, fmt, short, usd8, wad, utc } from './format.js'

const cap = (text) => text.charAt(0).toUpperCase() + text.slice(1)

const bytes32Name = (b) => {
  try {
    return hexToString(b, { size: 32 }).replace(/\0+$/, '')
  } catch {
    return b
  }
}

/**
 * Sentences per error name. `a` is the decoded args array; `u` formats amounts:
 * u.assets(x), u.shares(x), u.amount(x) (the unit of the action: assets for deposit/withdraw,
 * shares for redeem).
 */
export const SENTENCES = {
  // ERC-4626 limits (OpenZeppelin).
  ERC4626ExceededMaxDeposit: (a, u) =>
    `You asked to deposit ${u.assets(a[1])} but at most ${u.assets(a[2])} can be deposited for ${short(a[0])} now.`,
  ERC4626ExceededMaxMint: (a, u) =>
    `You asked to mint ${u.shares(a[1])} but at most ${u.shares(a[2])} can be minted now.`,
  ERC4626ExceededMaxWithdraw: (a, u) =>
    `You asked to withdraw ${u.assets(a[1])} but ${short(a[0])} can withdraw at most ${u.assets(a[2])} now: a withdrawal is limited to your position and to the vault's free liquidity (quote not locked as collateral for open options).`,
  ERC4626ExceededMaxRedeem: (a, u) =>
    `You asked to redeem ${u.shares(a[1])} but ${short(a[0])} can redeem at most ${u.shares(a[2])} now: a redemption is limited to your shares and to the vault's free liquidity (quote not locked as collateral for open options).`,
  // ERC-20 (the asset token, or the vault's own shares).
  ERC20InsufficientBalance: (a, u) =>
    `${short(a[0])} holds ${u.amount(a[1])}, and ${u.amount(a[2])} is needed.`,
  ERC20InsufficientAllowance: (a, u) =>
    `${cap(u.who(a[0]))} may spend only ${u.amount(a[1])} of yours (your approval), and ${u.amount(a[2])} is needed: approve first.`,
  ERC20InvalidReceiver: (a) => `The receiver ${short(a[0])} is not allowed (the zero address?).`,
  ERC20InvalidSender: (a) => `The sender ${short(a[0])} is not allowed.`,
  ERC20InvalidApprover: (a) => `The approver ${short(a[0])} is not allowed.`,
  ERC20InvalidSpender: (a) => `The spender ${short(a[0])} is not allowed.`,
  SafeERC20FailedOperation: (a) => `A transfer of the token at ${short(a[0])} failed.`,
  // Pausing, roles, reentrancy.
  EnforcedPause: () => 'The vault is paused: writing options and rebalancing are stopped.',
  ExpectedPause: () => 'The vault is not paused.',
  AccessControlUnauthorizedAccount: (a) =>
    `${short(a[0])} does not hold the role this call needs.`,
  AccessControlBadConfirmation: () => 'Role renouncement must be confirmed by the account itself.',
  ReentrancyGuardReentrantCall: () => 'A reentrant call was refused.',
  InvalidInitialization: () => 'The vault is already initialized.',
  NotInitializing: () => 'The vault is not being initialized.',
  SafeCastOverflowedUintDowncast: (a) => `A value does not fit in ${a[0]} bits.`,
  // OptionVault's own errors (contracts/interfaces/IOptionVault.sol).
  OptionVaultZeroAmount: () => 'The amount must be more than zero.',
  OptionVaultWithinBand: (a) =>
    `Net delta ${wad(a[0])} is within the band (target ${wad(a[1])} ± ${wad(a[2])}): no rebalance is due.`,
  OptionVaultTooSoon: (a) =>
    `The last rebalance (${utc(a[0])}) was less than ${a[1]} s ago.`,
  OptionVaultStaleOracle: (a) =>
    `The price oracle's last answer (${utc(a[0])}) is older than its ${a[1]} s heartbeat.`,
  OptionVaultInvalidPrice: (a) => `The price oracle answered ${a[0]}, which is not a price.`,
  OptionVaultSequencerDown: () => 'The L2 sequencer is down.',
  OptionVaultSequencerGracePeriod: (a) =>
    `The L2 sequencer came back at ${utc(a[0])}, less than its ${a[1]} s grace period ago.`,
  OptionVaultOracleGap: (a) =>
    `The venue's price ${usd8(a[0])} is more than ${a[2]} bps from the oracle's ${usd8(a[1])}.`,
  OptionVaultParameterOutOfBounds: (a) =>
    `Parameter ${bytes32Name(a[0])} = ${a[1]} is outside its bounds.`,
  OptionVaultInvalidSeries: (a) => `Series field ${bytes32Name(a[0])} = ${a[1]} is invalid.`,
  OptionVaultDuplicateSeries: (a) => `The same series is already open (#${a[0]}).`,
  OptionVaultInsufficientCollateral: (a, u) =>
    `Writing needs ${u.assets(a[0])} of collateral but only ${u.assets(a[1])} is free.`,
  OptionVaultPremiumNotPaid: (a, u) =>
    `${short(a[0])} has not approved or does not hold the premium of ${u.assets(a[1])}.`,
  OptionVaultUnknownSeries: (a) => `Series #${a[0]} does not exist.`,
  OptionVaultNotExpired: (a) => `Series #${a[0]} expires at ${utc(a[1])}, not yet.`,
  OptionVaultAlreadySettled: (a) => `Series #${a[0]} is already settled.`,
  OptionVaultNotSettled: (a) => `Series #${a[0]} is not settled yet.`,
  OptionVaultTooManySeries: (a) => `${a[0]} series are open, the most allowed is ${a[1]}.`,
  OptionVaultZeroAddress: (a) => `The address for ${bytes32Name(a[0])} is zero.`,
  OptionVaultUnsupportedDecimals: (a) =>
    `${bytes32Name(a[0])} has ${a[1]} decimals, which the vault does not support.`,
  OptionVaultNoTradePossible: (a) =>
    `No hedge trade is possible toward ${wad(a[0])} (no free quote, or no inventory to sell).`,
  OptionVaultInsufficientOutput: (a) =>
    `The venue delivered ${a[0]}, less than the oracle-derived minimum ${a[1]}.`,
  OptionVaultQueueAlreadySet: (a) =>
    `The vault's redemption queue is already set (${short(a[0])}): it can be set only once.`,
  // The ERC-7540 redemption queue (contracts/interfaces/IRedemptionQueue.sol).
  RedemptionQueueUnauthorized: (a) =>
    `${short(a[0])} may not act for ${short(a[1])}: only that account, or an operator it approved with setOperator, may request or claim for it.`,
  RedemptionQueueZeroAmount: () => 'The amount must be more than zero.',
  RedemptionQueueExceedsClaimable: (a, u) =>
    `You asked to claim ${u.amount(a[0])} but only ${u.amount(a[1])} is claimable: the rest of your request has not been filled yet.`,
  RedemptionQueueAsyncFlow: () =>
    'The queue pays at the NAV of a future fill, so it has no preview (ERC-7540).',
  RedemptionQueueDepositAtVault: (a) =>
    `Deposits go to the vault ${short(a[0])} itself: the queue only redeems.`,
  RedemptionQueueZeroAddress: (a) => `The address for ${bytes32Name(a[0])} is zero.`,
}

/** Amount formatters for the sentences, from the vault's decimals and the action's unit. */
export function units(meta, unit) {
  const assets = (x) => `${fmt(x, meta.assetDecimals)} ${meta.assetSymbol}`
  const shares = (x) => `${fmt(x, meta.shareDecimals)} shares`
  const known = { [meta.address.toLowerCase()]: 'the vault' }
  if (meta.queue) known[meta.queue.address.toLowerCase()] = 'the redemption queue'
  const who = (x) => known[String(x).toLowerCase()] ?? short(x)
  return { assets, shares, amount: unit === 'shares' ? shares : assets, who }
}

/**
 * Explain an error thrown by a viem read, simulation or write.
 * Returns { kind: 'revert' | 'rejected' | 'other', name?, html }.
 */
export function explain(err, meta, unit, abi) {
  if (err instanceof BaseError) {
    if (err.walk((e) => e instanceof UserRejectedRequestError || e?.code === 4001)) {
      return { kind: 'rejected', html: 'You rejected the request in your wallet.' }
    }
    const revert = err.walk((e) => e instanceof ContractFunctionRevertedError)
    if (revert) {
      let data = revert.data
      if (!data && revert.raw && abi) {
        try {
          data = decodeErrorResult({ abi, data: revert.raw })
        } catch {
          data = undefined
        }
      }
      if (data?.errorName) return decoded(data.errorName, data.args ?? [], meta, unit)
      const reason = revert.reason || revert.signature || 'no reason given'
      return { kind: 'revert', html: `Refused by the contract: ${esc(reason)}.` }
    }
    return { kind: 'other', html: esc(err.shortMessage || err.message) }
  }
  return { kind: 'other', html: esc(err?.message ?? String(err)) }
}

/**
 * Why a read failed (the RPC down, an error it answered), in one line: viem's short message and,
 * when it has them, the node's own words ("HTTP request failed. (Failed to fetch)").
 */
export function readFailure(err) {
  const short = err?.shortMessage || err?.message || String(err)
  return err?.details && !short.includes(err.details) ? `${short} (${err.details})` : short
}

/** A decoded custom error in plain words, with its name. */
export function decoded(name, args, meta, unit) {
  const sentence = SENTENCES[name]
  const text = sentence
    ? sentence(args, units(meta, unit))
    : `${name}(${args.map((x) => String(x)).join(', ')})`
  return {
    kind: 'revert',
    name,
    html: `Refused by ${name.startsWith('RedemptionQueue') ? 'the redemption queue' : 'the vault'}: ${esc(text)} <code class="err-name">${esc(name)}</code>`,
  }
}
