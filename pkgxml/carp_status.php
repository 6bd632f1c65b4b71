<?php
/*
 * carp_status.php
 *
 * Services: CARP (failover): Status. The page body comes from carp-pkg, rendered from the one
 * template `carp-pkg serve` also uses (carp_pkg/web/template.py): `carp-pkg serve --pfsense-fragment`
 * prints the banners, the action buttons, the vhid and pfsync tables, "Configuration vs running"
 * and the recent transitions, with every value HTML-escaped by carp-pkg. This file only runs the
 * POSTed action and prints that body between pfSense's head.inc and foot.inc: it takes no decision
 * and formats no value. Actions run only on POST, where pfSense's guiconfig.inc (csrf-magic) has
 * already checked the __csrf_magic token; csrf-magic also adds the token to the body's form.
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

/* The auto-refresh toggle is a link: ?refresh=1 (exactly) turns it on; anything else leaves it off. */
$carp_page_args = array('serve', '--pfsense-fragment');
if (isset($_GET['refresh']) && $_GET['refresh'] === '1') {
	$carp_page_args[] = '--refresh';
}
$carp_page = carp_pkg_run($carp_page_args);

$pgtitle = array(gettext("Services"), gettext("CARP (failover)"), gettext("Status"));
include("head.inc");

if ($input_errors) {
	print_input_errors($input_errors);
}
if ($savemsg !== '') {
	print_info_box(carp_h($savemsg), 'success');
}
if ($carp_page['rc'] !== 0) {
	print_info_box(carp_h(gettext('carp-pkg status failed: ') . carp_pkg_failure_text($carp_page)), 'danger');
}

$tab_array = array();
$tab_array[] = array(gettext("CARP Settings"), false, "/pkg_edit.php?xml=carp.xml");
$tab_array[] = array(gettext("CARP Status"), true, "/carp_status.php");
display_top_tabs($tab_array);

if ($carp_page['rc'] === 0) {
	/* HTML built and escaped by carp-pkg (the program this package installs), printed as it is. */
	echo $carp_page['stdout'];
}

include("foot.inc");
