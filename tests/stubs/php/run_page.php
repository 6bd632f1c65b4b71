<?php
/*
 * Runs a GUI page the way the web server would, for tests:
 *   php run_page.php PAGE METHOD PARAMS_JSON
 * METHOD is GET or POST; PARAMS_JSON becomes $_GET or $_POST.
 */
list(, $carp_test_page, $carp_test_method, $carp_test_params) = $argv;
$_SERVER['REQUEST_METHOD'] = $carp_test_method;
$_SERVER['SCRIPT_NAME'] = '/' . basename($carp_test_page);
$carp_test_params = json_decode($carp_test_params, true);
if ($carp_test_method === 'POST') {
	$_POST = $carp_test_params;
} else {
	$_GET = $carp_test_params;
}
$_REQUEST = array_merge($_GET, $_POST);
unset($argv, $argc);
require $carp_test_page;
