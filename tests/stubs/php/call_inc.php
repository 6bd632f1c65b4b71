<?php
/*
 * Calls one carp.inc function for tests and prints what happened as JSON:
 *   php call_inc.php FUNCTION ARGS_JSON
 * carp_validate_input gets ARGS_JSON[0] as the posted form and reports its $input_errors.
 * log_error(), file_notice() and update_status() are recorded, as pfSense would show them.
 * file_notice() also files the notice as pfSense's notices.inc does (every value through htmlentities(),
 * plus whether it was local only), in "notices" of the output; get_notices() returns that queue, which
 * CARP_TEST_NOTICES (a JSON list of notices) fills before the call, like notices filed by an earlier page.
 */
$carp_test_events = array();
$carp_test_notices = array();
$carp_test_pending = getenv('CARP_TEST_NOTICES');
if ($carp_test_pending) {
	$carp_test_notices = json_decode($carp_test_pending, true);
}
function log_error($message) { global $carp_test_events; $carp_test_events[] = array('log', $message); }
function file_notice($id, $notice, $category = "General", $url = "", $priority = 1, $local_only = false) {
	global $carp_test_events, $carp_test_notices;
	$carp_test_events[] = array('notice', $notice);
	$carp_test_notices[] = array('id' => htmlentities($id), 'notice' => htmlentities($notice), 'url' => htmlentities($url),
	    'category' => htmlentities($category), 'priority' => htmlentities($priority), 'local_only' => $local_only);
}
function get_notices($category = "all") {
	global $carp_test_notices;
	return $carp_test_notices ? $carp_test_notices : false;
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
echo json_encode(array('returned' => $returned, 'input_errors' => $input_errors, 'events' => $carp_test_events,
    'notices' => $carp_test_notices));
