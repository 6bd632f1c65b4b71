<?php
/*
 * carp_status.php
 *
 * Services: CARP (failover): Status. Shows `carp-pkg status --json` and offers
 * the maintenance / disable / reset-demotion actions. Every value shown comes
 * from carp-pkg and is HTML-escaped; actions run only on POST, where pfSense's
 * guiconfig.inc (csrf-magic) has already checked the __csrf_magic token.
 * Licensed under the BSD 2-clause license.
 */

##|+PRIV
##|*IDENT=page-services-carp-status
##|*NAME=Services: CARP (failover): Status
##|*DESCR=Allow access to the CARP (failover) status page.
##|*MATCH=carp_status.php*
##|-PRIV

require_once("guiconfig.inc");
require_once("carp.inc");

/* Button name => carp-pkg arguments. Nothing else can reach the command line. */
$carp_actions = array(
	'maintenance_on' => array('maintenance', 'on'),
	'maintenance_off' => array('maintenance', 'off'),
	'disable' => array('disable'),
	'enable' => array('enable'),
	'reset_demotion' => array('demotion', '--reset'),
);

$input_errors = array();
$savemsg = '';

if ($_SERVER['REQUEST_METHOD'] === 'POST' && isset($_POST['action'])) {
	/* Only a string naming a known button counts: "action[]=x" posts an array, which is no action. */
	$action = $_POST['action'];
	if (is_string($action) && isset($carp_actions[$action])) {
		$result = carp_pkg_run($carp_actions[$action]);
		if ($result['rc'] === 0) {
			$savemsg = trim($result['stdout']) !== '' ? trim($result['stdout']) : gettext('Done.');
		} else {
			$input_errors[] = carp_pkg_failure_text($result);
		}
	} else {
		$input_errors[] = gettext('Unknown action.');
	}
}

$status = carp_pkg_status();
$status_error = is_array($status) ? '' : $status;
$status = is_array($status) ? $status : array();
$maintenance = !empty($status['maintenance']);
$sysctls = (isset($status['sysctls']) && is_array($status['sysctls'])) ? $status['sysctls'] : array();
$carp_allowed = !isset($sysctls['allow']) || (int)$sysctls['allow'] !== 0;
$vhids = (isset($status['vhids']) && is_array($status['vhids'])) ? $status['vhids'] : array();
$pfsync = (isset($status['pfsync']) && is_array($status['pfsync'])) ? $status['pfsync'] : null;

$pgtitle = array(gettext("Services"), gettext("CARP (failover)"), gettext("Status"));
include("head.inc");

if ($input_errors) {
	print_input_errors($input_errors);
}
if ($savemsg !== '') {
	print_info_box(carp_h($savemsg), 'success');
}
if ($status_error !== '') {
	print_info_box(carp_h(gettext('carp-pkg status failed: ') . $status_error), 'danger');
}

$tab_array = array();
$tab_array[] = array(gettext("CARP Settings"), false, "/pkg_edit.php?xml=carp.xml");
$tab_array[] = array(gettext("CARP Status"), true, "/carp_status.php");
display_top_tabs($tab_array);
?>

<form action="carp_status.php" method="post" class="form-inline">
	<div class="panel panel-default">
		<div class="panel-heading"><h2 class="panel-title"><?=gettext("CARP")?></h2></div>
		<div class="panel-body">
			<p>
				<?=gettext("Backend")?>: <strong><?=carp_h(isset($status['backend']) ? $status['backend'] : '')?></strong>
				&nbsp; <?=gettext("CARP allowed")?>: <strong><?=carp_h(isset($sysctls['allow']) ? $sysctls['allow'] : '')?></strong>
				&nbsp; <?=gettext("Preempt")?>: <strong><?=carp_h(isset($sysctls['preempt']) ? $sysctls['preempt'] : '')?></strong>
				&nbsp; <?=gettext("Demotion")?>: <strong><?=carp_h(isset($sysctls['demotion']) ? $sysctls['demotion'] : '')?></strong>
				&nbsp; <?=gettext("Maintenance mode")?>: <strong><?=carp_h($maintenance)?></strong>
			</p>
<?php if ($maintenance): ?>
			<button type="submit" name="action" value="maintenance_off" class="btn btn-warning"><?=gettext("Leave Maintenance Mode")?></button>
<?php else: ?>
			<button type="submit" name="action" value="maintenance_on" class="btn btn-warning"><?=gettext("Enter Maintenance Mode")?></button>
<?php endif; ?>
<?php if ($carp_allowed): ?>
			<button type="submit" name="action" value="disable" class="btn btn-danger"><?=gettext("Temporarily Disable CARP")?></button>
<?php else: ?>
			<button type="submit" name="action" value="enable" class="btn btn-success"><?=gettext("Enable CARP")?></button>
<?php endif; ?>
			<button type="submit" name="action" value="reset_demotion" class="btn btn-default"><?=gettext("Reset Demotion")?></button>
		</div>
	</div>
</form>

<div class="panel panel-default">
	<div class="panel-heading"><h2 class="panel-title"><?=gettext("Virtual host IDs")?></h2></div>
	<div class="table-responsive">
		<table class="table table-striped table-hover table-condensed">
			<thead>
				<tr>
					<th><?=gettext("Interface")?></th>
					<th><?=gettext("VHID")?></th>
					<th><?=gettext("Addresses")?></th>
					<th><?=gettext("State")?></th>
					<th><?=gettext("Advbase")?></th>
					<th><?=gettext("Advskew")?></th>
					<th><?=gettext("Peer")?></th>
				</tr>
			</thead>
			<tbody>
<?php foreach ($vhids as $vhid): ?>
<?php 	if (!is_array($vhid)) { continue; } ?>
				<tr>
					<td><?=carp_h(isset($vhid['interface']) ? $vhid['interface'] : '')?></td>
					<td><?=carp_h(isset($vhid['vhid']) ? $vhid['vhid'] : '')?></td>
					<td><?=carp_h(isset($vhid['addresses']) ? $vhid['addresses'] : array())?></td>
					<td><?=carp_h(isset($vhid['state']) ? $vhid['state'] : '')?></td>
					<td><?=carp_h(isset($vhid['advbase']) ? $vhid['advbase'] : '')?></td>
					<td><?=carp_h(isset($vhid['advskew']) ? $vhid['advskew'] : '')?></td>
					<td><?=carp_h(array_values(array_filter(array(
						isset($vhid['peer']) ? $vhid['peer'] : null,
						isset($vhid['peer6']) ? $vhid['peer6'] : null))))?></td>
				</tr>
<?php endforeach; ?>
<?php if (!$vhids): ?>
				<tr><td colspan="7"><?=gettext("No CARP virtual host IDs are running.")?></td></tr>
<?php endif; ?>
			</tbody>
		</table>
	</div>
</div>

<div class="panel panel-default">
	<div class="panel-heading"><h2 class="panel-title"><?=gettext("State synchronisation (pfsync)")?></h2></div>
	<div class="panel-body">
<?php if ($pfsync === null): ?>
		<p><?=gettext("pfsync is not configured.")?></p>
<?php else: ?>
		<dl class="dl-horizontal">
<?php 	foreach (array('syncdev' => 'Sync interface', 'syncpeer' => 'Sync peer', 'maxupd' => 'Max updates',
		'defer' => 'Defer', 'version' => 'Version', 'syncok' => 'Sync OK', 'up' => 'Up') as $key => $label): ?>
			<dt><?=gettext($label)?></dt><dd><?=carp_h(isset($pfsync[$key]) ? $pfsync[$key] : '')?></dd>
<?php 	endforeach; ?>
		</dl>
<?php endif; ?>
	</div>
</div>

<?php include("foot.inc"); ?>
