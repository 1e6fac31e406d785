/* eb_struct_layout.c - print sizeof and field offsets of the public structs
 * the Python binding mirrors (python/edgebert), one "struct.field offset"
 * line each plus "struct sizeof N"; tests/py/test_python_binding.py compares
 * them with the ctypes layout, so a struct change breaks that test. */
#include <stddef.h>
#include <stdio.h>

#include "edgebert.h"
#include "edgebert/batch.h"

#define SIZE(T) printf("%s sizeof %zu\n", #T, sizeof(T))
#define OFF(T, f) printf("%s.%s %zu\n", #T, #f, offsetof(T, f))

int main(void) {
    SIZE(eb_error);
    OFF(eb_error, status);
    OFF(eb_error, msg);
    SIZE(eb_config);
    OFF(eb_config, vocab_size);
    OFF(eb_config, num_hidden_layers);
    OFF(eb_config, max_position_embeddings);
    OFF(eb_config, num_labels);
    OFF(eb_config, hidden_act);
    OFF(eb_config, layer_norm_eps);
    OFF(eb_config, id2label);
    SIZE(eb_encoding);
    OFF(eb_encoding, ids);
    OFF(eb_encoding, type_ids);
    OFF(eb_encoding, n);
    OFF(eb_encoding, truncated);
    SIZE(eb_run_params);
    OFF(eb_run_params, policy);
    OFF(eb_run_params, threshold);
    OFF(eb_run_params, predict_after);
    OFF(eb_run_params, latency_target_ms);
    OFF(eb_run_params, mac_size);
    OFF(eb_run_params, precision);
    OFF(eb_run_params, max_tokens);
    OFF(eb_run_params, task);
    SIZE(eb_energy_breakdown);
    OFF(eb_energy_breakdown, pu_uj);
    OFF(eb_energy_breakdown, leakage_uj);
    SIZE(eb_hw_report);
    OFF(eb_hw_report, vdd);
    OFF(eb_hw_report, freq_mhz);
    OFF(eb_hw_report, cycles);
    OFF(eb_hw_report, time_ms);
    OFF(eb_hw_report, energy_uj);
    OFF(eb_hw_report, energy);
    OFF(eb_hw_report, deadline_met);
    SIZE(eb_result);
    OFF(eb_result, label);
    OFF(eb_result, num_labels);
    OFF(eb_result, logits);
    OFF(eb_result, probs);
    OFF(eb_result, exit_layer);
    OFF(eb_result, predicted_layer);
    OFF(eb_result, num_layers);
    OFF(eb_result, entropies);
    OFF(eb_result, n_tokens);
    OFF(eb_result, truncated);
    OFF(eb_result, active_heads);
    OFF(eb_result, hw);
    SIZE(eb_batch_result);
    OFF(eb_batch_result, label);
    OFF(eb_batch_result, num_labels);
    OFF(eb_batch_result, logits);
    OFF(eb_batch_result, exit_layer);
    OFF(eb_batch_result, entropy);
    printf("EB_MAX_LABELS %d\nEB_MAX_LAYERS %d\nEB_MAX_TOKENS %d\nEB_LABEL_NAME_MAX "
           "%d\nEB_ERROR_MSG_MAX %d\n",
           EB_MAX_LABELS, EB_MAX_LAYERS, EB_MAX_TOKENS, EB_LABEL_NAME_MAX, EB_ERROR_MSG_MAX);
    return 0;
}
