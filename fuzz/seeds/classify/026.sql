  
	 DELETE
	FROM
 orders WHERE id = 2