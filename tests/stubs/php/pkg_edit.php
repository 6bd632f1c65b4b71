<?php
/*
 * Test stand-in for pfSense's pkg_edit.php?xml=carp.xml, only as far as the input check goes:
 * on POST it requires the package's <include_file> and eval()s carp.xml's
 * <custom_php_validation_command> with $_POST and $input_errors in scope, as pfSense does,
 * then prints the input errors with (the stand-in) print_input_errors(). An entry without
 * errors is not written anywhere; the page says "Saved." instead. The notices filed meanwhile
 * follow, as pfSense's notice list prints them (print_notices(): the stored, escaped text as it is).
 */
require_once("guiconfig.inc");

function carp_test_pkg_tag($xml, $tag) {
	if (!preg_match('#<' . $tag . '>(.*?)</' . $tag . '>#s', $xml, $match)) {
		return '';
	}
	return trim(html_entity_decode($match[1], ENT_QUOTES | ENT_XML1, 'UTF-8'));
}

$carp_test_xml = file_get_contents(stream_resolve_include_path('carp.xml'));
require_once(basename(carp_test_pkg_tag($carp_test_xml, 'include_file')));

$input_errors = array();
$carp_test_posted = ($_SERVER['REQUEST_METHOD'] === 'POST');
if ($carp_test_posted) {
	eval(carp_test_pkg_tag($carp_test_xml, 'custom_php_validation_command'));
}

$pgtitle = array("Services", "CARP (failover)", "Edit");
include("head.inc");
if ($input_errors) {
	print_input_errors($input_errors);
} elseif ($carp_test_posted) {
	echo "<p class=\"saved\">Saved.</p>\n";
}
/* pfSense's notice bell: the notices as file_notice() stored them (already escaped), shown as they are. */
$carp_test_pending = get_notices();
if ($carp_test_pending) {
	echo '<ul class="notices">';
	foreach ($carp_test_pending as $carp_test_notice) {
		echo "<li class=\"notice\">{$carp_test_notice['id']} - {$carp_test_notice['notice']}</li>";
	}
	echo "</ul>\n";
}
include("foot.inc");
