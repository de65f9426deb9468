/* Greedy actions for observations read from stdin: POLICY_OBS_SIZE numbers per observation (any whitespace),
 * one action printed per line. The policy is the file numpy-ddqn export writes:
 *
 *     numpy-ddqn export runs/x/last.npz policy.c
 *     cc -O2 -std=c99 -I. -o act examples/act_stdin.c
 *     echo "0.01 0.2 -0.03 -0.3" | ./act
 */
#include <stdio.h>
#include "policy.c"

int main(void)
{
    float obs[POLICY_OBS_SIZE];
    int i;
    for (;;) {
        for (i = 0; i < POLICY_OBS_SIZE; i++)
            if (scanf("%f", &obs[i]) != 1) return 0;
        printf("%d\n", policy_act(obs));
    }
}
