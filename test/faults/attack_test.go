package faults

import (
	"fmt"
	"testing"

	"github.com/certagent/certagent/internal/testbin"
)

// TestAttacks is the attack suite of issue 12: each subtest is one attack
// by the service user who owns a cert's output directory (or by another
// local user), run as that real user. It holds when certagent refuses
// and the root-owned decoy keeps its owner, mode and bytes. Numbered
// subtests are the ten breaks of the issue; the rest are attack classes
// that held before and must stay held.
func TestAttacks(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"useradd", "userdel", "setpriv"} {
		testbin.NeedTool(t, tool)
	}
	svc, other := attackUsers(t)
	var tl attackTally
	for _, a := range attacks {
		tl.attack(t, a.name, func(t *testing.T) { a.run(t, svc, other) })
	}
	skipped := ""
	if n := tl.skipped.Load(); n > 0 {
		skipped = fmt.Sprintf(" (%d skipped: a tool is missing)", n)
	}
	figure(t, "attacks: %d tried, %d held%s", tl.tried.Load(), tl.held.Load(), skipped)
}

// attacks lists the attacks in the order of docs/security.md.
var attacks = []struct {
	name string
	run  func(t *testing.T, svc, other account)
}{
	{"01_follow_symlinks_final_link", attackFollowFinalLink},
	{"02_hard_link_blocks_renewal", attackHardLink},
	{"03_template_source_untrusted", attackTemplateSource},
	{"04a_hook_interpreter_script", attackHookScriptArg},
	{"04b_hook_symlink_target_swapped", attackHookTargetSwap},
	{"05_template_unbounded_loop", attackTemplateLoop},
	{"06_webroot_symlink", attackWebroot},
	{"07_inspection_leak", attackInspectionLeak},
	{"08a_state_dir_foreign_owner", attackStateDirOwner},
	{"08b_journal_record_planted", attackJournalRecord},
	{"09_pkcs12_iterations", attackPKCS12Iterations},
	{"10_remove_key_after_start_parent_swap", attackRemoveKeyParent},
	{"held_key_symlink", attackHeldKeySymlink},
	{"held_dir_symlink", attackHeldDirSymlink},
	{"held_fifo_at_key", attackHeldFIFO},
	{"held_huge_sparse_file", attackHeldHugeFile},
	{"held_dropin_owned_by_user", attackHeldDropin},
	{"held_credential_file_owned_by_user", attackHeldCredential},
	{"held_metrics_remote_bind", attackHeldMetricsRemote},
	{"held_mapped_write_under_cache", attackHeldMappedWrite},
}
