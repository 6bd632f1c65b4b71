<?php
/*
 * Calls one carp.inc function for tests and prints what happened as JSON:
 *   php call_inc.php FUNCTION ARGS_JSON
 * carp_validate_input gets ARGS_JSON[0] as the posted form and reports its $input_errors.
 * log_error(), file_notice() and update_status() are recorded, as pfSense would show them.
 */
$carp_test_events = array();
function log_error($message) { global $carp_test_events; $carp_test_events[] = array('log', $message); }
function file_notice($id, $notice, $category = "General", $url = "", $priority = 1, $local_only = false) {
	global $carp_test_events; $carp_test_events[] = array('notice', $notice);
}
function update_status($message) { global $carp_test_events; $carp_test_events[] = array('status', $message); }

require_once("carp.inc");

$function = $argv[1];
$args = json_decode($argv[2], true);
if (getenv('CARP_TEST_CONSOLE')) {
	$pkg_interface = 'console';
}
$input_errors = array();
if ($function === 'carp_validate_input') {
	carp_validate_input($args[0], $input_errors);
	$returned = null;
} else {
	$returned = call_user_func_array($function, $args);
}
echo json_encode(array('returned' => $returned, 'input_errors' => $input_errors, 'events' => $carp_test_events));
