"""A token that behaves as mainnet USDT does, put in place of the devnet's USDC.

Mainnet USDT (``TetherToken``) differs from OpenZeppelin's ERC-20 in two ways a depositor's
tools meet: ``approve``, ``transfer`` and ``transferFrom`` return nothing (no ``bool``), and
``approve`` of a non-zero amount reverts while the allowance is not zero (it must go to 0
first). :func:`become_usdt_like` replaces the code at the devnet's USDC address with such a
token (``anvil_setCode``). Its storage is OpenZeppelin v5 ERC-20's (balances in slot 0,
allowances in slot 1, total supply in slot 2), so the balances and allowances already there stay.

The source is compiled with the project's solc-js (``scripts/solc``), once per process: it is a
test fixture, never part of the contracts (``forge build`` does not see it).
"""

from __future__ import annotations

import functools
import json
import subprocess

from web3 import Web3

from keeper.locations import PROJECT_ROOT

SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// Mainnet USDT's ERC-20 surface: no bool returns, approve only from or to 0.
contract UsdtLike {
    mapping(address => uint256) private _balances;
    mapping(address => mapping(address => uint256)) private _allowed;
    uint256 private _totalSupply;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    function name() external pure returns (string memory) { return "Tether USD"; }
    function symbol() external pure returns (string memory) { return "USDT"; }
    function decimals() external pure returns (uint8) { return 6; }
    function totalSupply() external view returns (uint256) { return _totalSupply; }
    function balanceOf(address who) external view returns (uint256) { return _balances[who]; }

    function allowance(address owner, address spender) external view returns (uint256) {
        return _allowed[owner][spender];
    }

    function approve(address spender, uint256 value) external {
        // TetherToken: "To change the approve amount you first have to reduce the addresses'
        // allowance to zero".
        require(!((value != 0) && (_allowed[msg.sender][spender] != 0)));
        _allowed[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
    }

    function transfer(address to, uint256 value) external {
        _move(msg.sender, to, value);
    }

    function transferFrom(address from, address to, uint256 value) external {
        uint256 allowed = _allowed[from][msg.sender];
        require(allowed >= value);
        if (allowed != type(uint256).max) _allowed[from][msg.sender] = allowed - value;
        _move(from, to, value);
    }

    function mint(address to, uint256 value) external {
        _totalSupply += value;
        _balances[to] += value;
        emit Transfer(address(0), to, value);
    }

    function _move(address from, address to, uint256 value) private {
        require(_balances[from] >= value);
        _balances[from] -= value;
        _balances[to] += value;
        emit Transfer(from, to, value);
    }
}
"""


@functools.cache
def runtime_code() -> str:
    """The token's runtime bytecode (``0x…``), compiled by ``scripts/solc``."""
    request = {
        "language": "Solidity",
        "sources": {"UsdtLike.sol": {"content": SOURCE}},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "prague",
            "outputSelection": {"*": {"UsdtLike": ["evm.deployedBytecode.object"]}},
        },
    }
    done = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "solc"), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = json.loads(done.stdout)
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    assert not errors, errors
    code = out["contracts"]["UsdtLike.sol"]["UsdtLike"]["evm"]["deployedBytecode"]["object"]
    return "0x" + str(code)


def become_usdt_like(w3: Web3, token: str) -> None:
    """Replace the code at ``token`` (an OpenZeppelin ERC-20) with :data:`SOURCE`'s."""
    address = Web3.to_checksum_address(token)
    resp = w3.provider.make_request("anvil_setCode", [address, runtime_code()])  # type: ignore[arg-type]
    assert "error" not in resp, resp
