// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IRedemptionQueue
/// @notice The asynchronous redemption entry point (ERC-7540 redeem, ERC-7575) of one
///         {OptionVault}: a holder whose exit does not fit in the vault's free quote requests a
///         redemption here, and the queue fills every pending request **pro rata** as collateral
///         frees up (settlement, expiry, hedge sales). Fills are permissionless (`fill`); the
///         keeper calls it after it settles or trades.
/// @dev One request per controller (ERC-7540 `requestId` 0: a controller's requests are
///      aggregated). The share token is the vault (`share()`); the queue holds the shares of the
///      pending requests, and the vault reserves their value for the queue: no instant exit and
///      no new write takes that quote (`IOptionVault.setRedemptionQueue`).
///
///      What a queued share earns: it stays a vault share until it is filled. It carries the
///      vault's gains and losses (premiums, option value, hedge P&L) until then, and is redeemed
///      at the NAV of its fill through the vault's own `redeem` (rounded down, as ERC-4626
///      rounds). Once filled, its assets are fixed and earn nothing. A request cannot be
///      cancelled.
///
///      Pro rata: a fill redeems `x` of the `E` shares the requests escrowed (`totalPending`);
///      every pending request's
///      shares shrink by the same factor `(E - x) / E` and it receives the same share of the
///      assets, `assets * pending / E`, rounded down. A request made later joins the next fill on
///      equal terms; nobody can be filled ahead of another.
///
///      Dust rule: every rounding is down, against the requests and in favour of solvency. A
///      fill leaves at most a few wei per request in the queue, plus one wei per 1e18 share units
///      a request has pending once partial fills have run the pro-rata index low (about 1e-12
///      of the request's value: 1,411 wei of a request worth 3.5e16 in
///      `ExitConservationInvariant`'s shrunk case), and a controller's second
///      request may leave one share unit (about 1e-6 of an asset unit: shares carry 12
///      decimals over the asset's 6) in escrow; a queue that never
///      empties keeps this precision however many partial fills it sees (a request left below
///      1e-18 of its shares by them counts as filled). Such dust is filled with the next
///      requests and never owed to anyone, so the queue can always pay every claim. A round
///      ends only when a fill takes every escrowed share.
///
///      Shares sent to the queue without a request (an ERC-20 transfer, or a vault deposit with
///      the queue as receiver) belong to no request: the queue counts only what its requests
///      escrowed (`totalPending`), and the next `fill`, by anyone, sends the rest to
///      {DISCARD}, where nobody can redeem them (their value stays in the vault, so no other
///      holder's share price moves). Until then the vault reserves their value too, as it reserves
///      every share the queue holds; calling `fill` ends that.
interface IRedemptionQueue {
    // ------------------------------------------------------------------ errors

    /// @notice `caller` may not act for `controller` (it is neither the controller nor one of
    ///         its operators; for a request, neither the owner nor its operator).
    error RedemptionQueueUnauthorized(address caller, address controller);

    /// @notice A zero amount of shares or assets.
    error RedemptionQueueZeroAmount();

    /// @notice A claim of more than is claimable (`requested` against `claimable`, both in the
    ///         unit of the call: shares for `redeem`, assets for `withdraw`).
    error RedemptionQueueExceedsClaimable(uint256 requested, uint256 claimable);

    /// @notice A preview of an asynchronous flow: ERC-7540 requires it to revert.
    error RedemptionQueueAsyncFlow();

    /// @notice Deposits go to the vault itself (`vault`); the queue only redeems.
    error RedemptionQueueDepositAtVault(address vault);

    /// @notice An address argument is zero.
    error RedemptionQueueZeroAddress(bytes32 field);

    // ------------------------------------------------------------------ events

    /// @notice ERC-7540: `owner`'s `shares` were queued for `controller` by `sender`.
    event RedeemRequest(
        address indexed controller,
        address indexed owner,
        uint256 indexed requestId,
        address sender,
        uint256 shares
    );

    /// @notice ERC-7540: `controller` set `operator`'s approval.
    event OperatorSet(address indexed controller, address indexed operator, bool approved);

    /// @notice ERC-4626: a claim paid `assets` to `receiver` for `controller`'s filled `shares`.
    event Withdraw(
        address indexed sender,
        address indexed receiver,
        address indexed owner,
        uint256 assets,
        uint256 shares
    );

    /// @notice A fill redeemed `shares` of the pending ones at the vault for `assets`, pro rata
    ///         over every pending request; `pendingAfter` shares still wait. `round` counts the
    ///         times the whole queue was filled.
    event RedemptionsFilled(
        uint256 indexed round, uint256 shares, uint256 assets, uint256 pendingAfter
    );

    /// @notice A fill found `shares` in the queue that no request escrowed and sent them to
    ///         {DISCARD}.
    event UnrequestedSharesDiscarded(uint256 shares);

    // ------------------------------------------------------------------ ERC-7540

    /// @notice Queues `shares` of `owner` for redemption, controlled by `controller`. The
    ///         caller is `owner` or one of its operators, and `owner` has approved this queue
    ///         for the shares on the vault (ERC-20 `approve`).
    /// @return requestId Always 0: a controller's requests are aggregated.
    function requestRedeem(uint256 shares, address controller, address owner)
        external
        returns (uint256 requestId);

    /// @notice Shares of `controller` waiting for a fill (`requestId` 0; any other id has none).
    function pendingRedeemRequest(uint256 requestId, address controller)
        external
        view
        returns (uint256 shares);

    /// @notice Shares of `controller` filled and not yet claimed (`requestId` 0).
    function claimableRedeemRequest(uint256 requestId, address controller)
        external
        view
        returns (uint256 shares);

    /// @notice Approves or revokes `operator` to request and claim for the caller.
    function setOperator(address operator, bool approved) external returns (bool);

    /// @notice Whether `operator` may request and claim for `controller`.
    function isOperator(address controller, address operator) external view returns (bool);

    // ------------------------------------------------------------------ ERC-7575 / ERC-4626

    /// @notice The share token: the vault.
    function share() external view returns (address);

    /// @notice The asset the claims pay: the vault's quote.
    function asset() external view returns (address);

    /// @notice The vault's `totalAssets`.
    function totalAssets() external view returns (uint256);

    /// @notice The vault's `convertToShares`.
    function convertToShares(uint256 assets) external view returns (uint256);

    /// @notice The vault's `convertToAssets`.
    function convertToAssets(uint256 shares) external view returns (uint256);

    /// @notice Claims `shares` of `controller`'s filled shares, paying their assets (pro rata
    ///         of what the fills paid it, rounded down) to `receiver`.
    function redeem(uint256 shares, address receiver, address controller)
        external
        returns (uint256 assets);

    /// @notice Claims `assets` of `controller`'s filled assets, using up its filled shares pro
    ///         rata (rounded up).
    function withdraw(uint256 assets, address receiver, address controller)
        external
        returns (uint256 shares);

    /// @notice `controller`'s claimable shares.
    function maxRedeem(address controller) external view returns (uint256);

    /// @notice `controller`'s claimable assets.
    function maxWithdraw(address controller) external view returns (uint256);

    // ------------------------------------------------------------------ fills

    /// @notice Redeems as many pending shares at the vault as its `maxRedeem` for this queue
    ///         allows, and shares the assets pro rata over the pending requests. Anyone may call
    ///         it; it redeems nothing (returns zeros) when nothing can be filled, or when what
    ///         could be filled would pay no assets (a dust of free quote). First, it sends any
    ///         shares the queue holds beyond `totalPending` (sent without a request) to
    ///         {DISCARD}.
    function fill() external returns (uint256 shares, uint256 assets);

    /// @notice Shares a `fill` would redeem now: the pending shares, within the vault's
    ///         `maxRedeem` for the queue; 0 when they would pay no assets.
    function fillable() external view returns (uint256);

    /// @notice All pending shares: what the requests escrowed, less what fills redeemed
    ///         (rounding dust included). Shares sent without a request are not counted.
    function totalPending() external view returns (uint256);

    /// @notice Where a fill sends shares that no request escrowed: 0x…dEaD, which no key holds.
    function DISCARD() external view returns (address);

    /// @notice Times the whole queue has been filled; requests made since are in this round.
    function round() external view returns (uint256);
}
