# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Double DQN from scratch, line by line
#
# This tutorial follows one transition through Double DQN: the forward pass of a tiny Q-network, the
# Double-DQN target, the TD loss, and the gradient of that loss with respect to every weight, worked by
# hand with NumPy. Then it asks the library for the same numbers, checks them against finite differences,
# and finally lets the agent learn CartPole-v1 and plots how it did.
#
# It is a [jupytext](https://jupytext.readthedocs.io) "percent" script: run it as it is
# (`python docs/tutorial/ddqn_from_scratch.py`), or open it as a notebook
# (`jupytext --to ipynb docs/tutorial/ddqn_from_scratch.py`). The test suite runs it top to bottom
# (`tests/test_docs_tutorial.py`), so every number below is checked, not pasted. It needs
# `pip install ".[gym,plot]"`.
#
# Everything is float64 here, so that the hand computation and the finite differences agree to ~1e-10;
# training itself runs in float32.

# %%
import numpy as np

from numpy_ddqn import MLP, Config, DDQNAgent, td_loss, train
from numpy_ddqn.nn.gradcheck import numeric_grad, relative_error
from numpy_ddqn.rl.replay import Batch
from numpy_ddqn.rl.targets import double_dqn_targets

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The network and its forward pass
#
# A Q-network maps an observation $s \in \mathbb{R}^4$ (CartPole's cart position, velocity, pole angle,
# angular velocity) to one Q-value per action ($\mathcal{A} = \{\text{left}, \text{right}\}$). Ours has
# one hidden layer of 3 tanh units, so every array fits on the screen:
#
# $$
# z_1 = s W_0 + b_0, \qquad h_1 = \tanh(z_1), \qquad Q(s, \cdot) = h_1 W_1 + b_1 .
# $$
#
# $W_0$ is $4 \times 3$, $b_0$ has 3 entries, $W_1$ is $3 \times 2$, $b_1$ has 2: 23 parameters, all
# views into one flat array `net.flat`.

# %%
online = MLP((4, 3, 2), activation="tanh", dtype=np.float64, rng=rng)
W0, b0, W1, b1 = online.params
print("parameters:", online.n_params, "| W0", W0.shape, "b0", b0.shape, "W1", W1.shape, "b1", b1.shape)

s = np.array([0.02, 0.4, -0.05, -0.6])         # an observation
z1 = s @ W0 + b0                               # (3,)
h1 = np.tanh(z1)                               # (3,)
q = h1 @ W1 + b1                               # (2,)
print("by hand:      Q(s, .) =", q)
print("the library:  Q(s, .) =", online(s[None])[0])
assert np.allclose(q, online(s[None])[0], rtol=0, atol=1e-14)

# %% [markdown]
# ## 2. The Double-DQN target
#
# The agent pushed the cart to the right ($a = 1$), got reward $r = 1$, and landed in $s'$, which is not
# terminal ($d = 0$). The *target network* $\theta^-$ is an older copy of the online network; here we
# make it differ by a small perturbation so that the two networks disagree. Double DQN lets the online
# network choose the next action and the target network value it:
#
# $$
# a^* = \operatorname*{arg\,max}_{a'} Q_\theta(s', a'), \qquad
# y = r + \gamma\, (1 - d)\, Q_{\theta^-}(s', a^*) .
# $$

# %%
target = MLP((4, 3, 2), activation="tanh", dtype=np.float64, rng=rng)
target.copy_from(online)
target.flat += 0.05 * rng.standard_normal(target.n_params)     # an older copy of the weights

a, r, d, gamma = 1, 1.0, 0.0, 0.99
s_next = np.array([0.03, 0.6, -0.06, -0.9])

q_next_online = online(s_next[None])[0]        # (2,)
q_next_target = target(s_next[None])[0]        # (2,)
a_star = int(np.argmax(q_next_online))
y = r + gamma * (1 - d) * q_next_target[a_star]
print("Q_online(s', .) =", q_next_online, "-> a* =", a_star)
print("Q_target(s', .) =", q_next_target, "-> y  =", round(y, 6))

y_lib = double_dqn_targets(np.array([r]), np.array([d]), q_next_online[None], q_next_target[None], gamma)[0]
assert np.isclose(y, y_lib, rtol=0, atol=1e-14)

# %% [markdown]
# ## 3. The TD loss
#
# The TD error is $\delta = Q_\theta(s, a) - y$, and the Huber loss is $\tfrac12 \delta^2$ for
# $|\delta| \le 1$ and $|\delta| - \tfrac12$ beyond. Its derivative is the TD error clipped to
# $[-1, 1]$. The target $y$ is a constant: no gradient flows into the target network.

# %%
delta = q[a] - y
loss = 0.5 * delta**2 if abs(delta) <= 1 else abs(delta) - 0.5
dloss_ddelta = np.clip(delta, -1.0, 1.0)
print(f"delta = {delta:.6f}   loss = {loss:.6f}   dL/ddelta = {dloss_ddelta:.6f}")

# %% [markdown]
# ## 4. The gradient, by hand
#
# Backprop is the chain rule applied from the loss down. Only $Q(s, a)$ entered the loss, so the gradient
# with respect to the output is zero except at the action taken:
#
# $$
# \bar q = \frac{\partial L}{\partial Q(s, \cdot)} = \operatorname{clip}(\delta)\, e_a .
# $$
#
# Through the output layer $Q = h_1 W_1 + b_1$:
#
# $$
# \bar W_1 = h_1^\top \bar q \ \ (3 \times 2), \qquad \bar b_1 = \bar q, \qquad \bar h_1 = \bar q\, W_1^\top .
# $$
#
# Through the tanh, whose derivative is $1 - \tanh^2$, reusing $h_1$ from the forward pass:
#
# $$
# \bar z_1 = \bar h_1 \odot (1 - h_1 \odot h_1) .
# $$
#
# And through the first layer $z_1 = s W_0 + b_0$:
#
# $$
# \bar W_0 = s^\top \bar z_1 \ \ (4 \times 3), \qquad \bar b_0 = \bar z_1 .
# $$

# %%
dq = np.zeros(2)
dq[a] = dloss_ddelta                           # (2,)
dW1 = np.outer(h1, dq)                         # (3, 2)
db1 = dq                                       # (2,)
dh1 = W1 @ dq                                  # (3,)  = dq W1^T
dz1 = dh1 * (1 - h1 * h1)                      # (3,)
dW0 = np.outer(s, dz1)                         # (4, 3)
db0 = dz1                                      # (3,)
by_hand = np.concatenate([dW0.ravel(), db0, dW1.ravel(), db1])
print("dL/dW1 =\n", dW1)
print("dL/dW0 =\n", dW0)

# %% [markdown]
# ## 5. The same numbers from the library
#
# The library does the same in three calls: `td_loss` turns Q-values, actions and targets into the loss
# and $\bar q$; `MLP.backward` chains each layer's backward (`linear_backward`, `tanh_backward`) down
# the network, writing into one flat gradient laid out like `net.flat`.

# %%
q_batch, cache = online.forward(s[None])                           # (1, 2) and what backward needs
loss_lib, dq_lib, td_lib = td_loss(q_batch, np.array([a]), np.array([y]), kind="huber")
_, grad_lib = online.backward(dq_lib, cache)
print(f"loss: by hand {loss:.12f}, library {loss_lib:.12f}")
print("largest difference between the two gradients:", np.max(np.abs(grad_lib - by_hand)))
assert np.isclose(loss, loss_lib, rtol=0, atol=1e-14)
assert np.allclose(grad_lib, by_hand, rtol=0, atol=1e-14)

# %% [markdown]
# And the agent's own learning step, `DDQNAgent.gradient`, which computes the target, the loss and the
# backward for a whole minibatch: given our two networks and a batch holding our one transition, it
# returns the same gradient.

# %%
config = Config(hidden_sizes=(3,), dtype="float64", gamma=gamma, n_step=1, loss="huber", double=True)
agent = DDQNAgent(obs_dim=4, n_actions=2, config=config)
agent.online.copy_from(online)
agent.target.copy_from(target)
batch = Batch(obs=s[None], action=np.array([a]), reward=np.array([r]), next_obs=s_next[None],
              terminated=np.array([d]))
loss_agent, grad_agent, _, _ = agent.gradient(batch)
print("agent: loss", round(loss_agent, 12), "| largest difference from the hand gradient:",
      np.max(np.abs(grad_agent - by_hand)))
assert np.allclose(grad_agent, by_hand, rtol=0, atol=1e-14)

# %% [markdown]
# ## 6. The finite-difference check
#
# A hand derivation and the code that implements it can share a mistake. Finite differences share none:
# nudge each of the 23 parameters by $\pm\epsilon$, recompute the loss (the target held fixed, as in
# training), and take the central difference
#
# $$
# \frac{\partial L}{\partial \theta_k} \approx \frac{L(\theta + \epsilon e_k) - L(\theta - \epsilon e_k)}{2\epsilon} .
# $$
#
# Its error is $O(\epsilon^2)$; in float64 with $\epsilon = 10^{-6}$ a correct gradient agrees to about
# $10^{-9}$ in relative error, and a wrong one is off by order one.

# %%
def loss_at_current_weights():
    """The Huber TD loss of the online network on our transition, y held fixed."""
    return td_loss(online(s[None]), np.array([a]), np.array([y]), kind="huber")[0]

numeric = numeric_grad(loss_at_current_weights, online.flat, eps=1e-6)
rel = relative_error(by_hand, numeric)
print(f"relative error, hand gradient vs finite differences: {rel:.2e}")
assert rel < 1e-7

wrong = by_hand.copy()
wrong[:12] = np.outer(s, dh1).ravel()          # forget tanh' in dW0
print(f"relative error of a backward that forgets tanh':    {relative_error(wrong, numeric):.2e}")

# %% [markdown]
# The library runs this check on hypothesis-drawn networks of every depth, width, batch size and
# activation (`tests/test_layers_mlp.py`), and `check_mlp_gradients(net, x)` runs it on yours.
#
# ## 7. The agent learns CartPole-v1
#
# Everything above, repeated: act epsilon-greedily, store the transition in the replay memory, sample a
# minibatch of 64, compute Double-DQN targets (with 5-step returns), take a gradient step with Adam, and
# copy the online network into the target network every 100 steps. `train` runs that loop until the
# greedy policy is confirmed to average at least 475 over 100 evaluation episodes (CartPole's
# threshold), or the budget runs out. Seeds differ in how fast they solve, and the exact step depends on
# the CPU; most seeds solve within 25,000 steps.

# %%
history = train(Config(seed=0, total_steps=40_000, progress_interval=0))
print(f"solved: {history.solved} at step {history.solved_at}; {history.episodes} episodes, "
      f"{history.train_wall_s:.1f} s of training")

# %%
import matplotlib.pyplot as plt               # in a notebook the figure shows inline; as a script, in a window

ends = np.cumsum(history.episode_lengths)
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
left.plot(ends, history.episode_returns, lw=0.8, label="training episode (with exploration)")
left.plot([e["step"] for e in history.evals], [e["mean"] for e in history.evals], "o-", label="greedy evaluation")
left.axhline(475, color="grey", ls="--", lw=0.8, label="threshold 475")
left.set(xlabel="env step", ylabel="return", title="CartPole-v1, seed 0")
left.legend(fontsize=8)

agent = history.agent
angles = np.linspace(-0.2, 0.2, 41)
obs = np.zeros((angles.size, 4), np.float32)
obs[:, 2] = angles                             # pole angle, everything else 0
q_values = agent.online(obs)                   # (41, 2)
right.plot(angles, q_values[:, 0], label="Q(s, left)")
right.plot(angles, q_values[:, 1], label="Q(s, right)")
right.set(xlabel="pole angle (rad)", ylabel="Q", title="what the trained network learned")
right.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The right panel is the learned Q-function along one line through the state space: for a solved agent,
# pushing right scores higher where the pole leans right (positive angle) and pushing left where it leans
# left, so the greedy policy moves the cart under the pole. The [Concepts](../concepts/index.md) pages take each piece further: n-step returns, prioritized
# replay and its sum tree, the dueling head, convolutions.
