// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IOptionVault} from "./interfaces/IOptionVault.sol";
import {IRedemptionQueue} from "./interfaces/IRedemptionQueue.sol";

/// @title RedemptionQueue
/// @notice ERC-7540 asynchronous redemptions for one {OptionVault}, filled pro rata
///         ({IRedemptionQueue} states the rules).
/// @dev The pro-rata fill is O(1) per fill and per controller, with two per-round indices
///      (RAY = 1e27 fixed point) over "units" of a request:
///      - `_sharesPerUnit` (S): a unit's pending shares. It starts each round at RAY and a fill
///        of `x` of the `E` escrowed shares scales it by `(E - x) / E` (rounded down);
///      - `_assetsPerUnit` (A): the assets a unit has been paid this round, cumulative. The
///        same fill adds `assets * S / E` (rounded down).
///      A request of `s` shares holds `floor(s * RAY / S)` units; its pending shares are
///      `floor(units * S / RAY)` and its assets `floor(units * (A - A_at_entry) / RAY)`.
///      Because `sum(units) * S / RAY <= E` (every rounding is down), the assets owed never
///      exceed the assets the fills brought in: rounding dust (a few wei and share units per
///      request and fill) stays in the queue. When a fill takes every escrowed share, the round
///      closes: its final A is kept for the requests still holding its units, which are then
///      fully filled, and the next round starts at S = RAY with no units.
///
///      Scales. A queue that never empties (new requests before every fill takes all) shrinks S
///      by every partial fill; rounded down, a small S would cost every request a large part of
///      its pending shares per fill. So S never stays below `MIN_S` (RAY / SCALE): a fill that
///      would take it there multiplies it by SCALE (1e9) and starts a new *scale* of the round,
///      with A restarting at 0 (the old scale's final A is kept). A unit of scale k is worth
///      1 / SCALE unit of scale k + 1: a request's pending shares are `units * S / RAY / SCALE^d`
///      and its assets the sum over the scales, for d up to MAX_BEHIND (2) scales behind; three
///      or more behind, what is left of it is below 1e-18 of its shares (dust) and counts as
///      filled. A closed round's scales are read the same way.
///      A controller's positions are checkpointed (`_settle`) before each change, so a second
///      request joins the current round and scale with its remaining pending shares.
contract RedemptionQueue is IRedemptionQueue, IERC165, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 private constant RAY = 1e27;
    /// @dev How much S grows when it starts a new scale, and the least S a fill leaves.
    uint256 private constant SCALE = 1e9;
    uint256 private constant MIN_S = RAY / SCALE;
    /// @dev Scales a position is followed through (see the header).
    uint256 private constant MAX_BEHIND = 2;

    /// @dev A controller's aggregated request. `units` belong to `round_` and `scale`;
    ///      `sharesAtCheckpoint` and `assetIndex` are its pending shares and A at the last
    ///      checkpoint.
    struct Position {
        uint256 units;
        uint256 round_;
        uint256 scale;
        uint256 sharesAtCheckpoint;
        uint256 assetIndex;
        uint256 claimableShares;
        uint256 claimableAssets;
    }

    /// @inheritdoc IRedemptionQueue
    address public constant DISCARD = 0x000000000000000000000000000000000000dEaD;

    IOptionVault private immutable _vault;
    IERC20 private immutable _asset;

    uint256 private _round;
    /// @dev The current round's scale (see the header).
    uint256 private _scale;
    uint256 private _units;
    /// @dev The requests' escrowed shares (E): requested, less redeemed by fills. The queue's
    ///      vault balance is E plus any shares sent without a request, until a fill discards them.
    uint256 private _escrow;
    uint256 private _sharesPerUnit = RAY;
    uint256 private _assetsPerUnit;
    /// @dev The final A of each round's past scales (a closed round's last scale included).
    mapping(uint256 round_ => mapping(uint256 scale => uint256)) private _finalAssetsPerUnit;
    mapping(address controller => Position) private _positions;
    mapping(address controller => mapping(address operator => bool)) private _operators;

    constructor(IOptionVault vault_) {
        if (address(vault_) == address(0)) revert RedemptionQueueZeroAddress("vault");
        _vault = vault_;
        _asset = IERC20(vault_.asset());
    }

    // ------------------------------------------------------------------ requests and claims

    /// @inheritdoc IRedemptionQueue
    function requestRedeem(uint256 shares, address controller, address owner)
        external
        nonReentrant
        returns (uint256)
    {
        if (shares == 0) revert RedemptionQueueZeroAmount();
        if (controller == address(0)) revert RedemptionQueueZeroAddress("controller");
        if (msg.sender != owner && !_operators[owner][msg.sender]) {
            revert RedemptionQueueUnauthorized(msg.sender, owner);
        }
        // Counted in the escrow before they arrive, so that no fill could take them for shares
        // sent without a request (fill is nonReentrant too); then the owner's shares move (its
        // approval of this queue on the vault).
        _escrow += shares;
        // slither-disable-next-line arbitrary-send-erc20 -- `owner` consented: it is the caller or approved the caller as its operator (checked above)
        IERC20(address(_vault)).safeTransferFrom(owner, address(this), shares);

        Position storage p = _positions[controller];
        uint256 pending = _settle(p);
        if (p.units != 0) _units -= p.units; // rejoins below with its pending shares
        uint256 total = pending + shares;
        uint256 s = _sharesPerUnit;
        uint256 units = Math.mulDiv(total, RAY, s); // >= total >= 1: S <= RAY
        p.units = units;
        p.round_ = _round;
        p.scale = _scale;
        p.sharesAtCheckpoint = Math.mulDiv(units, s, RAY);
        p.assetIndex = _assetsPerUnit;
        _units += units;
        emit RedeemRequest(controller, owner, 0, msg.sender, shares);
        return 0;
    }

    /// @inheritdoc IRedemptionQueue
    function redeem(uint256 shares, address receiver, address controller)
        external
        nonReentrant
        returns (uint256 assets)
    {
        Position storage p = _claimant(controller, receiver);
        _settle(p);
        uint256 cs = p.claimableShares;
        uint256 ca = p.claimableAssets;
        if (shares == 0) revert RedemptionQueueZeroAmount();
        if (shares > cs) revert RedemptionQueueExceedsClaimable(shares, cs);
        assets = shares == cs ? ca : Math.mulDiv(ca, shares, cs);
        _pay(p, shares, assets, receiver, controller);
    }

    /// @inheritdoc IRedemptionQueue
    function withdraw(uint256 assets, address receiver, address controller)
        external
        nonReentrant
        returns (uint256 shares)
    {
        Position storage p = _claimant(controller, receiver);
        _settle(p);
        uint256 cs = p.claimableShares;
        uint256 ca = p.claimableAssets;
        if (assets == 0) revert RedemptionQueueZeroAmount();
        if (assets > ca) revert RedemptionQueueExceedsClaimable(assets, ca);
        shares = assets == ca ? cs : Math.mulDiv(cs, assets, ca, Math.Rounding.Ceil);
        _pay(p, shares, assets, receiver, controller);
    }

    /// @inheritdoc IRedemptionQueue
    function setOperator(address operator, bool approved) external returns (bool) {
        _operators[msg.sender][operator] = approved;
        emit OperatorSet(msg.sender, operator, approved);
        return true;
    }

    // ------------------------------------------------------------------ fills

    /// @inheritdoc IRedemptionQueue
    /// @dev The vault's `redeem` runs the vault's own checks (a trusted oracle, the free quote);
    ///      what arrived is measured on the queue's balance. Shares held beyond the escrow came
    ///      without a request: they go to {DISCARD} first, so the vault stops reserving for them
    ///      and no fill redeems them for nobody.
    // slither-disable-next-line reentrancy-no-eth,incorrect-equality -- nonReentrant, and the vault is the queue's own, fixed at construction; the zero checks are exact on purpose (no units, no escrow, an index run to zero)
    function fill() external nonReentrant returns (uint256 shares, uint256 assets) {
        uint256 escrow = _escrow;
        IERC20 share_ = IERC20(address(_vault));
        uint256 held = share_.balanceOf(address(this));
        if (held > escrow) {
            emit UnrequestedSharesDiscarded(held - escrow);
            share_.safeTransfer(DISCARD, held - escrow);
        }
        if (_units == 0 || escrow == 0) return (0, 0);
        shares = _fillable(escrow);
        if (shares == 0) return (0, 0);
        uint256 before = _asset.balanceOf(address(this));
        // slither-disable-next-line unused-return -- what arrived is measured below
        _vault.redeem(shares, address(this), address(this));
        assets = _asset.balanceOf(address(this)) - before;

        uint256 s = _sharesPerUnit;
        uint256 a = _assetsPerUnit + Math.mulDiv(assets, s, escrow);
        uint256 left = escrow - shares;
        _escrow = left;
        uint256 r = _round;
        if (left == 0) {
            // Every request of this round is filled: close it and start the next.
            _finalAssetsPerUnit[r][_scale] = a;
            _round = r + 1;
            _scale = 0;
            _units = 0;
            _sharesPerUnit = RAY;
            _assetsPerUnit = 0;
        } else {
            uint256 sAfter = Math.mulDiv(s, left, escrow);
            if (sAfter < MIN_S) {
                // A new scale (see the header): S x SCALE until it is back above MIN_S; the
                // scales skipped on the way (a fill that leaves under 1e-18 of the escrow)
                // keep A = 0. S >= MIN_S before, so this ends, and S stays far below 2^256.
                uint256 k = _scale;
                _finalAssetsPerUnit[r][k] = a;
                a = 0;
                do {
                    s *= SCALE;
                    ++k;
                    sAfter = Math.mulDiv(s, left, escrow);
                } while (sAfter < MIN_S);
                _scale = k;
            }
            _sharesPerUnit = sAfter;
            _assetsPerUnit = a;
        }
        emit RedemptionsFilled(r, shares, assets, left);
    }

    /// @inheritdoc IRedemptionQueue
    // slither-disable-next-line incorrect-equality -- no units means no request to fill
    function fillable() external view returns (uint256) {
        if (_units == 0) return 0;
        return _fillable(_escrow);
    }

    /// @inheritdoc IRedemptionQueue
    function totalPending() external view returns (uint256) {
        return _escrow;
    }

    /// @inheritdoc IRedemptionQueue
    function round() external view returns (uint256) {
        return _round;
    }

    // ------------------------------------------------------------------ ERC-7540 views

    /// @inheritdoc IRedemptionQueue
    function pendingRedeemRequest(uint256 requestId, address controller)
        external
        view
        returns (uint256 shares)
    {
        if (requestId != 0) return 0;
        (shares,,) = _accrued(_positions[controller]);
    }

    /// @inheritdoc IRedemptionQueue
    function claimableRedeemRequest(uint256 requestId, address controller)
        external
        view
        returns (uint256 shares)
    {
        if (requestId != 0) return 0;
        (, shares,) = _accrued(_positions[controller]);
    }

    /// @inheritdoc IRedemptionQueue
    function isOperator(address controller, address operator) external view returns (bool) {
        return _operators[controller][operator];
    }

    /// @inheritdoc IRedemptionQueue
    function maxRedeem(address controller) external view returns (uint256 shares) {
        (, shares,) = _accrued(_positions[controller]);
    }

    /// @inheritdoc IRedemptionQueue
    function maxWithdraw(address controller) external view returns (uint256 assets) {
        (,, assets) = _accrued(_positions[controller]);
    }

    /// @notice ERC-165: ERC-7540 operator (0xe3bc4e65), ERC-7540 asynchronous redeem
    ///         (0x620ee8e4), ERC-7575 (0x2f0a18c5) and ERC-165 itself.
    function supportsInterface(bytes4 id) external pure returns (bool) {
        return
            id == 0xe3bc4e65 || id == 0x620ee8e4 || id == 0x2f0a18c5
                || id == type(IERC165).interfaceId;
    }

    // ------------------------------------------------------------------ ERC-7575 / ERC-4626

    /// @inheritdoc IRedemptionQueue
    function share() external view returns (address) {
        return address(_vault);
    }

    /// @inheritdoc IRedemptionQueue
    function asset() external view returns (address) {
        return address(_asset);
    }

    /// @inheritdoc IRedemptionQueue
    function totalAssets() external view returns (uint256) {
        return _vault.totalAssets();
    }

    /// @inheritdoc IRedemptionQueue
    function convertToShares(uint256 assets) external view returns (uint256) {
        return _vault.convertToShares(assets);
    }

    /// @inheritdoc IRedemptionQueue
    function convertToAssets(uint256 shares) external view returns (uint256) {
        return _vault.convertToAssets(shares);
    }

    /// @notice ERC-7540: previews of an asynchronous flow revert.
    function previewRedeem(uint256) external pure returns (uint256) {
        revert RedemptionQueueAsyncFlow();
    }

    /// @notice ERC-7540: previews of an asynchronous flow revert.
    function previewWithdraw(uint256) external pure returns (uint256) {
        revert RedemptionQueueAsyncFlow();
    }

    /// @notice Deposits are the vault's: 0 here.
    function maxDeposit(address) external pure returns (uint256) {
        return 0;
    }

    /// @notice Deposits are the vault's: 0 here.
    function maxMint(address) external pure returns (uint256) {
        return 0;
    }

    /// @notice Deposits are the vault's (synchronous ERC-4626): reverts, naming the vault.
    function previewDeposit(uint256) external view returns (uint256) {
        revert RedemptionQueueDepositAtVault(address(_vault));
    }

    /// @notice Deposits are the vault's (synchronous ERC-4626): reverts, naming the vault.
    function previewMint(uint256) external view returns (uint256) {
        revert RedemptionQueueDepositAtVault(address(_vault));
    }

    /// @notice Deposits are the vault's (synchronous ERC-4626): reverts, naming the vault.
    function deposit(uint256, address) external view returns (uint256) {
        revert RedemptionQueueDepositAtVault(address(_vault));
    }

    /// @notice Deposits are the vault's (synchronous ERC-4626): reverts, naming the vault.
    function mint(uint256, address) external view returns (uint256) {
        revert RedemptionQueueDepositAtVault(address(_vault));
    }

    // ------------------------------------------------------------------ internal

    /// @dev The escrowed shares the vault lets the queue redeem now, or 0 when they would pay
    ///      nothing (a free quote of a unit's dust): a fill never burns shares for no assets.
    // slither-disable-next-line incorrect-equality -- exactly zero assets is the case to refuse
    function _fillable(uint256 escrow) private view returns (uint256 shares) {
        shares = Math.min(escrow, _vault.maxRedeem(address(this)));
        if (shares != 0 && _vault.previewRedeem(shares) == 0) shares = 0;
    }

    /// @dev The position of `controller`, after checking that the caller may claim for it.
    function _claimant(address controller, address receiver)
        private
        view
        returns (Position storage)
    {
        if (receiver == address(0)) {
            revert RedemptionQueueZeroAddress("receiver");
        }
        if (msg.sender != controller && !_operators[controller][msg.sender]) {
            revert RedemptionQueueUnauthorized(msg.sender, controller);
        }
        return _positions[controller];
    }

    /// @dev (pending shares, claimable shares, claimable assets) of a position, now.
    function _accrued(Position storage p)
        private
        view
        returns (uint256 pending, uint256 claimableShares, uint256 claimableAssets)
    {
        claimableShares = p.claimableShares;
        claimableAssets = p.claimableAssets;
        uint256 units = p.units;
        if (units == 0) return (0, claimableShares, claimableAssets);
        uint256 r = p.round_;
        uint256 k = p.scale;
        // How many scales behind the position is (a closed round: past its last, fully filled).
        uint256 behind = r == _round ? _scale - k : type(uint256).max;
        // Its assets: from its own scale (less its index), and from each later one at 1/SCALE
        // of a unit per scale, up to MAX_BEHIND scales on (past that, below 1e-18 of it is left).
        uint256 unitsPer = RAY; // RAY x SCALE^j: a later scale's unit in the position's units
        uint256 index = p.assetIndex;
        for (uint256 j = 0; j <= MAX_BEHIND; ++j) {
            bool current = j == behind;
            uint256 a = current ? _assetsPerUnit : _finalAssetsPerUnit[r][k + j];
            claimableAssets += Math.mulDiv(units, a - index, unitsPer);
            if (current) {
                pending = Math.mulDiv(units, _sharesPerUnit, unitsPer);
                break;
            }
            index = 0;
            unitsPer *= SCALE;
        }
        claimableShares += p.sharesAtCheckpoint - pending; // pending only falls within a round
    }

    /// @dev Checkpoints a position: its fills so far become claimable, and its units stay in
    ///      the current round (or are dropped, their round being closed). Returns its pending
    ///      shares.
    // slither-disable-next-line incorrect-equality -- a position with no units has nothing to keep
    function _settle(Position storage p) private returns (uint256 pending) {
        uint256 cs;
        uint256 ca;
        (pending, cs, ca) = _accrued(p);
        p.claimableShares = cs;
        p.claimableAssets = ca;
        uint256 units = p.units;
        if (units == 0) return 0;
        if (p.round_ == _round) {
            // Re-expressed in the current scale's units (rounded down: its pending shares at
            // the next checkpoint can only be lower than the ones counted here).
            uint256 behind = _scale - p.scale;
            if (behind != 0) p.units = behind <= MAX_BEHIND ? units / SCALE ** behind : 0;
            p.scale = _scale;
            p.sharesAtCheckpoint = pending;
            p.assetIndex = _assetsPerUnit;
        } else {
            p.units = 0;
            p.scale = 0;
            p.sharesAtCheckpoint = 0;
            p.assetIndex = 0;
        }
    }

    /// @dev Pays a claim: the position's claimable shares and assets go down, the assets out.
    function _pay(
        Position storage p,
        uint256 shares,
        uint256 assets,
        address receiver,
        address controller
    ) private {
        p.claimableShares -= shares;
        p.claimableAssets -= assets;
        emit Withdraw(msg.sender, receiver, controller, assets, shares);
        if (assets != 0) _asset.safeTransfer(receiver, assets);
    }
}
